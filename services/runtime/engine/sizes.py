"""``ps --size``: a container's SizeRw (the bytes of its writable layer,
the overlay's upper dir) and SizeRootFs (that plus its image's size), as
moby's overlay2 driver counts them (directory.Size: the sizes of every
entry but directories, a hard-linked file once).

A mixin of :class:`~services.runtime.core.RuntimeService`; the image's
size comes from the image-store (``ImageSource.image_size``), asked once
per image id (an image never changes).
"""

from __future__ import annotations

import functools
import os

from client.errors import NotFound
from services.common.log import get_logger
from services.runtime.engine.containers import ContainerRecord
from services.runtime.engine.runtimestate import RuntimeState

__all__ = ["Sizes", "tree_size"]

log = get_logger()


def tree_size(root: str) -> int:
    """Bytes under ``root``: every non-directory's st_size, hard links once,
    symlinks not followed; entries vanishing meanwhile are skipped."""
    total, seen = 0, set()
    stack = [root]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                if st.st_nlink > 1:
                    if (st.st_dev, st.st_ino) in seen:
                        continue
                    seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


@functools.lru_cache(maxsize=256)
def _image_size(images, image_id: str) -> int:
    """An image's size by id, asked once: an image never changes (a
    NotFound is raised, not kept)."""
    return images.image_size(image_id)


class Sizes(RuntimeState):
    def sizes(self, record: ContainerRecord) -> tuple[int, int]:
        """(SizeRw, SizeRootFs) of ``record``; an image the store no longer
        knows counts 0 (logged), as its layers are not the container's."""
        upper = record.rootfs.get("upperdir", "")
        rw = tree_size(upper) if upper else 0
        try:
            image = _image_size(self.images, record.image_id)
        except NotFound:
            log.warning("container.size_image_unknown", id=record.id, image=record.image_id)
            image = 0
        return rw, rw + image
