"""The peers tier: other engines driving barque's parts (podman through
conmon with barque-oci as its runtime). Root, the kernel and a registry, as
the integration tier, whose leak check runs here too; and barque beside
docker 20.10 and podman on the same images."""

from collections.abc import Iterator

import pytest

from tests.integration.conftest import no_leaks  # noqa: F401  (a fixture, found by name)
from tests.support.engine import Engine
from tests.support.runtime import close_runtime_engine, start_runtime_engine


@pytest.fixture(scope="module")
def barque() -> Iterator[Engine]:
    """barque's three services for one module, closed (containers removed) after it."""
    engine = start_runtime_engine()
    try:
        yield engine
    finally:
        close_runtime_engine(engine)
