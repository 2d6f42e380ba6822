"""What a container is, as the API reports it: inspect (Docker's
ContainerJSON), the list with Docker's filters, ``info``'s counts and the
logs. A mixin of :class:`~services.runtime.core.RuntimeService`, as
:mod:`.lifecycle` is."""

from __future__ import annotations

from typing import Callable, Iterator

from client.errors import InvalidArgument, NotFound
from services.runtime.engine.filters import FilterContext, ListFilter
from services.runtime.engine.restart import RESTARTING
from services.runtime.engine.runtimestate import ContainerView, RuntimeState
from services.runtime.engine.status import refresh

__all__ = ["Queries", "ContainerView"]


class Queries(RuntimeState):
    def inspect(self, ref: str) -> ContainerView:
        record = self.store.find(ref)
        with self.store.lock:
            running = refresh(record, self._dir(record) / "shim")
        return ContainerView(record, running, tuple(self.netglue.live(record.id)) if running else ())

    def inspect_document(self, ref: str) -> tuple[ContainerView, dict]:
        """The container and Docker's ContainerJSON of it, built from the
        record and this runtime's layout (:mod:`services.runtime.engine.inspect`)."""
        from services.runtime.engine.inspect import container_json

        view = self.inspect(ref)
        return view, container_json(view.record, view.running, self._dir(view.record), view.endpoints)

    def list(self, all_: bool = False, filters: list[str] | None = None) -> list[ContainerView]:
        wanted = ListFilter.parse(filters or [], self._filter_context())  # its errors before any work
        views = []
        live = self.netglue.live_all()
        for record in self.store.all():
            with self.store.lock:
                running = refresh(record, self._dir(record) / "shim")
            views.append(ContainerView(record, running, tuple(live.get(record.id, ())) if running else ()))
        all_ = all_ or wanted.lists_stopped
        views = [v for v in views if (all_ or v.running or v.record.status == RESTARTING) and wanted.include(v)]
        return sorted(views, key=lambda v: v.record.created, reverse=True)

    def _filter_context(self) -> FilterContext:
        """What ps's filters look up: containers, image ids by reference (None
        when the image-store knows none), network ids by name."""

        def image_id(ref: str) -> str | None:
            try:
                return self.images.image_config(ref)[0]
            except (NotFound, InvalidArgument):
                return None

        return FilterContext(find=self.store.find, image_id=image_id,
                             network_ids=lambda: {net.name: net.id for net, _ in self.networks.listing()})

    def info(self):
        """Docker's ``info`` of this engine: the containers by state, plus the
        host, cgroup, runtime and security facts :mod:`services.runtime.engine.info`
        gathers (a paused container counts as paused, not running)."""
        from services.runtime.engine.info import ContainerCounts, engine_info

        views = self.list(all_=True)
        paused = sum(v.record.status == "paused" for v in views)
        running = sum(v.running and v.record.status != "paused" for v in views)
        counts = ContainerCounts(running, paused, len(views) - running - paused)
        return engine_info(root=self.root, oci=self.oci, counts=counts, cgroup_v2=self.cgroup_v2,
                           cgroup_root=self.cgroup_root, userns=self.idmap is not None)

    def logs(self, ref: str, *, follow: bool, since_ns: int, until_ns: int, tail: int,
             stdout: bool, stderr: bool, cancelled: Callable[[], bool]) -> Iterator:
        from services.runtime.engine.logs import read_logs

        record = self.store.find(ref)
        if not record.log_path:
            return iter(())

        def stop() -> bool:
            if cancelled():
                return True
            with self.store.lock:
                return not refresh(record, self._dir(record) / "shim")

        return read_logs(record.log_path, record.host_config.log_config.type, follow=follow,
                         since_ns=since_ns, until_ns=until_ns, tail=tail, stdout=stdout, stderr=stderr,
                         stop=stop)
