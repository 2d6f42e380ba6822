"""Volumes and a container's mounts: Docker's local volume driver and its
volume API, ``-v``/``--mount``/``--tmpfs``/``--volumes-from`` planning, and
copy-up.

- :mod:`.store`: volumes on disk (``<root>/<name>/_data`` and their metadata);
- :mod:`.local`: the local driver's options (tmpfs, bind) and their mounts;
- :mod:`.copyup`: filling a new volume from the image, never leaving either tree;
- :mod:`.plan`: which mounts a container gets, from its configuration;
- :mod:`.propagation`: shared and slave binds, and the root's propagation;
- :mod:`.listing`: ``ls`` filters, ``prune``'s choice, ``inspect``'s JSON;
- :mod:`.manager`: the runtime's :class:`~.manager.Volumes`, tying them together.
"""

__all__ = ["copyup", "listing", "local", "manager", "plan", "propagation", "store"]
