"""``--parallel``: the steps of a group run concurrently, each checkpointed as it finishes.

A failing step never hangs its group: the other steps finish, then the run stops as failed.
Ctrl-C / SIGTERM stops every child process of the group and records the steps interrupted.
"""

from __future__ import annotations

import signal
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .context import entered_step, running_steps
from .output import PrefixWriter, Recording, routed_output
from .signals import Terminated, stop_children

if TYPE_CHECKING:
    from .context import StepInfo
    from .definition import StepSpec
    from .output import ThreadRouter
    from .steps import StepExecutor

__all__ = ["run_group"]

_POLL_SECONDS = 0.05


def run_group(
    steps: StepExecutor, group: int, specs: list[StepSpec], max_workers: int | None
) -> None:
    """Run one parallel group; returns when every step of it has finished."""
    todo = [(spec, info) for spec in specs if (info := steps.pending(spec)) is not None]
    if not todo:
        steps.recorder.set_group(steps.run, group, "completed")
        return
    steps.recorder.set_group(steps.run, group, "running")
    workers = max_workers or len(todo)
    failures: list[tuple[int, BaseException]] = []
    # Serving before the first worker starts, until the last has ended: a step that ends at
    # once must not find the main thread not serving yet, and run a hook in its own thread,
    # where a signal cannot abandon it (the group would wait for that hook to return).
    with routed_output() as (out, err), steps.plugins.serving():
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="checkpoints-step")
        futures: list[Future[None]] = [
            pool.submit(_worker, steps, spec, info, out, err) for spec, info in todo
        ]
        try:
            with steps.guard.step():
                # Poll: the kernel may deliver SIGINT/SIGTERM to a worker thread, and Python
                # runs the handler only when the main thread next runs bytecode, which an
                # untimed wait() would not do until a step finished. Meanwhile the main
                # thread makes the workers' hook calls (one at a time, interruptible).
                while not all(future.done() for future in futures):
                    steps.plugins.serve(_POLL_SECONDS)
                    steps.guard.check()  # a signal that arrived while a hook ran
        except (KeyboardInterrupt, Terminated) as exc:
            signum = exc.signum if isinstance(exc, Terminated) else signal.SIGINT
            # The message names the steps that were running, not merely the group's first.
            members = {info.number for _, info in todo}
            running = [s for s in running_steps() if s.number in members] or [todo[0][1]]
            # Steps not started yet never start; running ones lose their child processes.
            for future in futures:
                future.cancel()
            stop_children(signum)
            while not all(future.done() for future in futures):
                steps.plugins.serve(_POLL_SECONDS)
            pool.shutdown(wait=True)
            steps.recorder.set_group(steps.run, group, "interrupted")
            steps.stop(running[0], signum, also=running[1:])
        pool.shutdown(wait=True)
    for (spec, _), future in zip(todo, futures, strict=True):
        error = future.exception()
        if error is not None:
            failures.append((spec.number, error))
    received = steps.guard.received
    if received is not None:
        steps.recorder.set_group(steps.run, group, "interrupted")
        steps.stop(todo[0][1], received)
    if failures:
        steps.recorder.set_group(steps.run, group, "failed")
        number, error = min(failures, key=lambda f: f[0])
        steps.fail(number)
        raise error
    steps.recorder.set_group(steps.run, group, "completed")


def _worker(
    steps: StepExecutor, spec: StepSpec, info: StepInfo, out: ThreadRouter, err: ThreadRouter
) -> None:
    """One step in a worker thread; its output lines are prefixed with ``[name]``."""
    prefix = f"[{spec.name}] "
    config = steps.config.clone()
    # --quiet: the step's lines wait in a recording, shown only if the step fails.
    held = (Recording(out.target), Recording(err.target)) if steps.quiet else None
    targets = held or (out.target, err.target)
    # c.run() output goes through Invoke's own reader threads: give them prefixing streams.
    # Parallel steps must not compete for the terminal's stdin.
    streams = PrefixWriter(targets[0], prefix), PrefixWriter(targets[1], prefix)
    config.run.out_stream, config.run.err_stream = streams
    config.run.in_stream = False
    with out.plain(), err.plain():  # the reporter's own lines need no prefix
        state = steps.begin(spec, info)
    spent: list[float] = []
    try:
        with (
            entered_step(info),
            out.prefixed(prefix, targets[0]),
            err.prefixed(prefix, targets[1]),
        ):
            result: Any = steps.execute(spec, info, spent, config)
    except BaseException as exc:
        for stream in streams:
            stream.flush()
        for recording in held or ():
            recording.replay()
        steps.ended(state, info, spent, exc)
        raise
    for stream in streams:
        stream.flush()
    steps.ended(state, info, spent, None, result)
