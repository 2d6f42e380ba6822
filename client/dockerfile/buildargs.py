"""Build arguments as moby's legacy builder scopes them (``buildargs.go``).

``ARG`` lines before the first ``FROM`` are meta args: they are usable in
``FROM`` and give the default of a same-named ``ARG`` redeclared in a stage.
Inside a stage only the ARGs declared there (and the predefined proxy args,
when given with ``--build-arg``) reach RUN's environment and the expansion
of later instructions; ENV of the same name wins over an ARG.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Set

__all__ = ["PROXY_ARGS", "BuildArgs"]

#: usable without an ARG line, and left out of history unless declared
PROXY_ARGS = frozenset({
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
    "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
})


class BuildArgs:
    """``options`` are the ``--build-arg`` values (None: given without a value
    and not in the client's environment, which leaves the default in place)."""

    def __init__(self, options: Mapping[str, Optional[str]]) -> None:
        self.options: Dict[str, Optional[str]] = dict(options)
        self.allowed: Dict[str, Optional[str]] = {}
        self.meta: Dict[str, Optional[str]] = {}
        self.referenced: Set[str] = set()

    def clone_for_stage(self) -> "BuildArgs":
        """A stage starts with the meta args known and nothing allowed."""
        out = BuildArgs(self.options)
        out.meta = dict(self.meta)
        out.referenced = self.referenced  # shared: the unused-args warning is build-wide
        return out

    def add_arg(self, key: str, value: Optional[str]) -> None:
        self.allowed[key] = value
        self.referenced.add(key)

    def add_meta(self, key: str, value: Optional[str]) -> None:
        self.add_arg(key, value)
        self.meta[key] = value

    def _value(self, key: str, mapping: Mapping[str, Optional[str]]) -> Optional[str]:
        given = self.options.get(key)
        if given is not None:
            return given
        default = mapping.get(key)
        if default is None:
            return self.meta.get(key)
        return default

    def _all(self, mapping: Mapping[str, Optional[str]]) -> Dict[str, str]:
        out: Dict[str, str] = {}
        for key in list(mapping) + sorted(PROXY_ARGS):
            if key in PROXY_ARGS and key not in mapping and key not in self.options:
                continue
            value = self._value(key, mapping)
            if value is not None and (key in mapping or key in self.options):
                out[key] = value
        return out

    def all_allowed(self) -> Dict[str, str]:
        return self._all(self.allowed)

    def all_meta(self) -> Dict[str, str]:
        return self._all(self.meta)

    def filter_allowed(self, env: Iterable[str]) -> List[str]:
        """``KEY=value`` for each allowed arg the config's env does not set, sorted."""
        keys = {e.split("=", 1)[0] for e in env}
        return sorted(f"{k}={v}" for k, v in self.all_allowed().items() if k not in keys)

    def referenced_or_not_builtin(self, key: str) -> bool:
        return key in self.allowed or key not in PROXY_ARGS

    def unused(self) -> List[str]:
        """``--build-arg`` names no ARG consumed (proxy args never count)."""
        return sorted(k for k in self.options if k not in self.referenced and k not in PROXY_ARGS)
