"""One ``barque build``: the context, the plan, the stages in their threads,
then the tags, as the legacy builder and docker's CLI print them."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import Future
from typing import TYPE_CHECKING, Dict, List, Optional

from barque.images.v1 import images_pb2
from cli.buildrun import BuildServices, StepRunner, image_config
from client.dockerfile.dispatch import BuildError, Plan, Stage, begin_stage, parse_trigger, plan_build, step_for
from client.dockerfile.parser import Instruction, parse
from client.errors import NotFound

if TYPE_CHECKING:
    from cli.buildview import CompactView

__all__ = ["Build", "OrderedOutput"]


class OrderedOutput:
    """Stage outputs printed in stage order: the head stage streams."""

    def __init__(self, out, order: List[int]) -> None:
        self._out = out
        self._order = list(order)
        self._pos = 0
        self._held: Dict[int, List[str]] = {i: [] for i in order}
        self._done: set = set()
        self._lock = threading.Lock()

    def _head(self) -> Optional[int]:
        return self._order[self._pos] if self._pos < len(self._order) else None

    def writer(self, stage: int):
        def write(text: str) -> None:
            with self._lock:
                if self._head() == stage:
                    self._out.write(text)
                    self._out.flush()
                else:
                    self._held[stage].append(text)
        return write

    def finish(self, stage: int) -> None:
        with self._lock:
            self._done.add(stage)
            while self._head() is not None and self._head() in self._done:
                self._pos += 1
                nxt = self._head()
                if nxt is not None:
                    self._out.write("".join(self._held[nxt]))
                    self._held[nxt] = []
            self._out.flush()

    def flush_all(self) -> None:
        with self._lock:
            for ix in self._order[self._pos:]:
                self._out.write("".join(self._held[ix]))
                self._held[ix] = []
            self._out.flush()


class _Sink:
    """A file-like for pull progress inside a stage's output."""

    def __init__(self, write) -> None:
        self.write = write

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class Build:
    def __init__(self, ctx, args, tmpdir: str, epoch: Optional[int], build_args: Dict[str, Optional[str]],
                 labels: Dict[str, str]) -> None:
        self.ctx = ctx
        self.args = args
        self.tmpdir = tmpdir
        self.epoch = epoch
        self.build_args = build_args
        self.labels = labels
        self.out = sys.stdout
        self.output: Optional[OrderedOutput] = None
        self.futures: Dict[int, Future] = {}
        self.plan: Optional[Plan] = None
        self.failed = threading.Event()
        self.view: Optional["CompactView"] = None
        progress = getattr(args, "progress", "auto")
        if not args.quiet and (progress == "tty" or (progress == "auto" and self.out.isatty())):
            import shutil

            from cli.buildview import CompactView

            self.view = CompactView(self.out.write, shutil.get_terminal_size().columns, flush=self.out.flush)

    def say(self, text: str) -> None:
        if self.args.quiet:
            return
        (self.view or self.out).write(text)
        self.out.flush()

    def output_done(self) -> None:
        """The build stopped early: what was held is printed (the failed step whole)."""
        if self.output is not None:
            self.output.flush_all()
        if self.view is not None:
            self.view.fail()
            self.out.flush()

    # ---- the whole build ----------------------------------------------------

    def run(self) -> str:
        from pathlib import Path

        from cli.buildcontext import BuildContext
        from cli.format import human_size

        if self.args.context == "-":
            context = BuildContext.from_stdin(sys.stdin.buffer, Path(self.tmpdir), self.args.file)
        else:
            context = BuildContext.from_dir(self.args.context, self.args.file, stdin=sys.stdin.buffer)
        self.context = context
        self.say(f"Sending build context to Docker daemon  {human_size(context.tar_size(), 4)}\n")
        dockerfile = parse(context.dockerfile_text)
        plan = plan_build(dockerfile, self.build_args, self.args.target or None)
        self.plan = plan
        if self.labels:
            target = plan.stages[plan.target]
            text = "LABEL " + " ".join(f'"{k}"="{v}"' for k, v in sorted(self.labels.items()))
            target.instructions.append(parse(text + "\n").instructions[0])
        total = plan.total_steps()
        number = 1
        for inst in plan.meta_args:
            self.say(f"Step {number}/{total} : {inst.original}\n")
            number += 1
        starts: Dict[int, int] = {}
        for ix in plan.needed:
            starts[ix] = number
            number += 1 + len(plan.stages[ix].instructions)
        quiet_out = _Sink(lambda text: None)
        self.output = OrderedOutput(quiet_out if self.args.quiet else (self.view or self.out), plan.needed)
        self.services = BuildServices(self.ctx)
        network = "bridge" if self.args.network in ("default", "") else self.args.network
        created = self.epoch * 10**9 if self.epoch is not None else 0
        for ix in plan.needed:
            self.futures[ix] = Future()
        threads = []
        for ix in plan.needed:
            runner = StepRunner(self.services, self.output.writer(ix), no_cache=self.args.no_cache,
                                network=network, created_nanos=created, clamp_mtime=self.epoch,
                                context=context, stage_image=self._image_for_from, tmpdir=self.tmpdir)
            t = threading.Thread(target=self._stage_thread, args=(plan.stages[ix], runner, starts[ix], total,
                                                                   dockerfile.escape), daemon=True)
            threads.append(t)
            t.start()
        for t in threads:
            t.join()
        errors = [self.futures[ix].exception() for ix in plan.needed if self.futures[ix].exception()]
        if errors:
            first = next((e for e in errors if not isinstance(e, _Cancelled)), errors[0])
            raise first  # type: ignore[misc]
        image: images_pb2.Image = self.futures[plan.target].result()
        if image is None or not image.id:
            raise BuildError("No image was generated. Is your Dockerfile empty?")
        if self.view is not None:
            self.view.close()
        unused = plan.args.unused()
        if unused:
            self.say(f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n")
        self._finish(image)
        return image.id

    def _finish(self, image: images_pb2.Image) -> None:
        from cli.images import familiar

        if self.args.quiet:
            print(image.id)
        else:
            self.say(f"Successfully built {image.id[7:19]}\n")
        for tag in self.args.tag:
            self.services.images.Tag(images_pb2.TagRequest(source=image.id, target=tag))
            if not self.args.quiet:
                name, tagname = familiar(tag)
                self.say(f"Successfully tagged {name}:{tagname}\n")
        if self.args.iidfile:
            with open(self.args.iidfile, "w") as f:
                f.write(image.id)

    # ---- stages -------------------------------------------------------------

    def _stage_thread(self, stage: Stage, runner: StepRunner, number: int, total: int, escape: str) -> None:
        future = self.futures[stage.index]
        try:
            image = self._stage(stage, runner, number, total, escape)
            runner.drain()
            future.set_result(image)
        except BaseException as exc:  # handed to the main thread, which raises it
            self.failed.set()
            try:
                runner.drain()
            except BaseException:  # noqa: BLE001 - the step's own error is the one to report
                pass
            future.set_exception(exc)
        finally:
            assert self.output is not None
            self.output.finish(stage.index)

    def _wait_stage(self, ix: int) -> images_pb2.Image:
        future = self.futures.get(ix)
        if future is None:
            raise BuildError(f"stage {ix} is not built")
        try:
            image = future.result()
        except BaseException:
            raise _Cancelled("a stage this one needs failed") from None
        return image

    def _image_for_from(self, ref: str) -> str:
        """COPY --from: a stage (name or index) or an image reference -> image id."""
        assert self.plan is not None
        stage = self.plan.stage_by_name(ref)
        if stage is None and ref.isdigit():
            stage = self.plan.stages[int(ref)]
        if stage is not None:
            return self._wait_stage(stage.index).id
        return self._resolve(ref, self.output.writer(-1) if False else (lambda text: None)).id

    def _resolve(self, reference: str, write) -> images_pb2.Image:
        from cli.images import pull_with_progress

        if not self.args.pull:
            try:
                return self.services.inspect(reference)
            except NotFound:
                pass
        pull_with_progress(self.ctx.images(), reference, None, out=_Sink(write))
        return self.services.inspect(reference)

    def _stage(self, stage: Stage, runner: StepRunner, number: int, total: int, escape: str):
        assert self.plan is not None
        write = runner.write
        write(f"Step {number}/{total} : {stage.source}\n")
        earlier = {s.name: s.index for s in self.plan.stages[: stage.index] if s.name}
        base: Optional[images_pb2.Image]
        if stage.base.lower() in earlier:
            base = self._wait_stage(earlier[stage.base.lower()])
        elif stage.base == "scratch":
            base = None
        else:
            base = self._resolve(stage.base, write)
        parent = base.id if base is not None else ""
        write(f" ---> {parent[7:19]}\n")
        state, triggers = begin_stage(image_config(base), self.plan.args, escape)
        image = base
        if triggers:
            write(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}\n")
            for text in triggers:
                image = self._step(runner, state, parse_trigger(text), image)
        for inst in stage.instructions:
            number += 1
            write(f"Step {number}/{total} : {inst.original}\n")
            image = self._step(runner, state, inst, image)
            write(f" ---> {image.id[7:19]}\n")
        return image

    def _step(self, runner: StepRunner, state, inst: Instruction, image: Optional[images_pb2.Image]):
        if self.failed.is_set():
            raise _Cancelled("build cancelled: another stage failed")
        step = step_for(state, inst)
        result = runner.run_step(image.id if image is not None else "", step)
        return result.image


class _Cancelled(BuildError):
    """A stage stopped because another one failed."""
