"""Writing a tar stream into a root, and reading files inside a root, without
ever leaving it: the one vetted path that layer extraction, ``cp`` into a
container and ``commit`` share.

- :mod:`.beneath`: open directories and files strictly beneath a root fd
  (``openat2`` with ``RESOLVE_BENEATH``/``RESOLVE_IN_ROOT``, or a component
  walk with ``O_NOFOLLOW``);
- :mod:`.reader`: a streaming tar reader with bounded headers;
- :mod:`.apply`: the whiteout-aware applier with per-layer limits;
- :mod:`.writer`: a streaming tar writer of a tree beneath a root fd, with a
  per-entry hook (``commit``'s whiteouts, ``cp`` and ``export``);
- :mod:`.errors`: the layer error categories.

Import the module you need: the package itself imports nothing, so a lean
reader (the passwd lookup) does not pay for the applier's logging.
"""

__all__ = ["apply", "beneath", "errors", "reader", "writer"]
