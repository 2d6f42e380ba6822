"""Entry point shared by the service daemons: logging, then run, errors as one line."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from client.errors import BarqueError
from services.common.log import configure_logging, get_logger

__all__ = ["main_for"]


def main_for(service: str, run: Callable[[], None]) -> Callable[[], None]:
    def main() -> None:
        parser = argparse.ArgumentParser(prog=f"barque-{service}d", description=f"barque {service} service")
        parser.add_argument("--config", help="config file (default /etc/barque/barque.toml)")
        parser.add_argument("--log-level", default=os.environ.get("BARQUE_LOG_LEVEL", "info"))
        args = parser.parse_args()
        if args.config:
            os.environ["BARQUE_CONFIG"] = args.config
        configure_logging(service, args.log_level)
        try:
            run()
        except (BarqueError, OSError) as exc:
            get_logger().error("service.failed", error=str(exc))
            print(f"barque-{service}d: {exc}", file=sys.stderr)
            sys.exit(1)

    return main
