"""Moving one run between two stores (local or ``s3://``): ``export`` and ``import``.

The archive is a ``.tar.gz`` of the run's files under ``<run id>/``, as they are in a store:
``checkpoint.json``, ``step_NN.complete``, ``state/step_NN_state.json``. Nothing else is
accepted on import, every file is validated like a store's own before anything is written,
and the run appears in the destination whole (local: built aside, then renamed) or with
``checkpoint.json`` first (object storage: a kill leaves fewer markers, so steps run again).
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import time
from typing import TYPE_CHECKING

from ..errors import CheckpointError, CorruptCheckpointError
from .atomic import write_file
from .rundir import CHECKPOINT, marker_name, state_name

if TYPE_CHECKING:
    from pathlib import Path

    from .rundir import RunDir
    from .runs import Store

__all__ = ["export_run", "import_run"]

_MEMBER = re.compile(r"^([^/]+)/(checkpoint\.json|step_\d+\.complete|state/step_\d+_state\.json)\Z")
#: Bounds on what an archive may hold (a run's files are small JSON documents).
_MAX_MEMBERS = 100_000
_MAX_FILE = 64 * 1024 * 1024


def export_run(run_dir: RunDir, target: Path) -> int:
    """Write ``run_dir`` (validated first) to the archive ``target``; the number of files."""
    cp = run_dir.read_checkpoint()  # a damaged run is refused, with its repair hint
    names = [CHECKPOINT]
    names += [f"state/{state_name(n)}" for n in sorted(run_dir.state_steps())]
    names += [marker_name(n) for n in sorted(run_dir.marker_steps())]
    buffer = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in names:
            data = run_dir.backend.read(run_dir.key(name))
            info = tarfile.TarInfo(f"{cp.workflow_id}/{name}")
            info.size, info.mtime, info.mode = len(data), now, 0o600
            tar.addfile(info, io.BytesIO(data))
    try:
        write_file(target, buffer.getvalue(), durable=True)
    except OSError as exc:
        raise CheckpointError(f"{target}: cannot write the archive ({exc.strerror})") from None
    return len(names)


def import_run(store: Store, workflow: str, source: Path) -> tuple[str, int]:
    """Add the run archived in ``source`` to ``store`` (call with the workflow's lock held)."""
    run_id, files = _read_archive(source)
    store.check_run_id(workflow, run_id)
    _validate(workflow, run_id, files, source)
    if store.backend.kind(run_id) is not None:
        raise CheckpointError(
            f"run {run_id} is already in {store.root}; remove it first "
            f"(`invoke {workflow}.clean`) to replace it"
        )
    store.ensure()
    # checkpoint.json first, the markers (the commit points) last.
    order = sorted(files, key=lambda n: (n != CHECKPOINT, n.endswith(".complete"), n))

    def build(prefix: str) -> None:
        for name in order:
            store.backend.replace(f"{prefix}/{name}", files[name], durable=True)

    # Named like a run being created: swept by the store if this process is killed.
    store.backend.make_run(run_id, build, f".new-{run_id}.{os.getpid()}")
    return run_id, len(files)


def _read_archive(source: Path) -> tuple[str, dict[str, bytes]]:
    files: dict[str, bytes] = {}
    runs: set[str] = set()
    try:
        with tarfile.open(source, mode="r:*") as tar:
            for count, member in enumerate(tar, 1):
                m = _MEMBER.match(member.name)
                if member.isdir() and member.name.rstrip("/").count("/") <= 1:
                    continue  # directory entries of tools that add them: nothing to write
                if count > _MAX_MEMBERS or m is None or not member.isfile():
                    raise CheckpointError(
                        f"{source}: {member.name!r} is not a file of a run (expected "
                        "<run>/checkpoint.json, <run>/step_NN.complete, <run>/state/...)"
                    )
                if member.size > _MAX_FILE:
                    raise CheckpointError(f"{source}: {member.name} is too large")
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file
                runs.add(m.group(1))
                files[m.group(2)] = handle.read()
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise CheckpointError(f"{source}: cannot read the archive ({exc})") from None
    if len(runs) != 1 or CHECKPOINT not in files:
        raise CheckpointError(f"{source}: expected the files of one run, checkpoint.json included")
    return runs.pop(), files


def _validate(workflow: str, run_id: str, files: dict[str, bytes], source: Path) -> None:
    """Every file parses and names its own run and step, as the store's readers demand."""
    from .reading import load_checkpoint, load_marker, load_state

    for name, data in files.items():
        where = f"{source}: {run_id}/{name}"
        try:
            if name == CHECKPOINT:
                doc = load_checkpoint(data, source=where)
                if (doc["workflow_id"], doc["workflow"]) != (run_id, workflow):
                    raise CheckpointError(
                        f"{where}: records run {doc['workflow_id']!r} of workflow "
                        f"{doc['workflow']!r}, not {run_id!r} of {workflow!r}"
                    )
            elif name.endswith(".complete"):
                if load_marker(data, source=where)["STEP"] != int(name[5:-9]):
                    raise CheckpointError(f"{where}: records another step")
            elif load_state(data, source=where)["step"] != int(name[11:-11]):
                raise CheckpointError(f"{where}: records another step")
        except CorruptCheckpointError as exc:
            raise CheckpointError(str(exc)) from None
