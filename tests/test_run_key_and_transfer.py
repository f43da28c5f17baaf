"""``--run-key`` / ``checkpoints.run_key``: a CI job's retry continues the run its earlier
attempt started (same key), never another job's run, and starts it when there is none."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import Project, log_lines, one_line


def _keys(project: Project) -> dict[str, str | None]:
    return {run.name: project.checkpoint(run).get("run_key") for run in project.runs()}


def test_resume_with_a_run_key_continues_that_run_not_the_latest(project: Project) -> None:
    project.use("bad_middle")
    first = project.invoke("workflow", "--resume", "--run-key=ci-1", env={"BAD": "false"})
    assert first.code == 1  # no run with that key: started one, which fails at step 1
    other = project.invoke("workflow", "--run-key=ci-2", env={"BAD": "false"})
    assert other.code == 1
    keys = _keys(project)
    assert sorted(keys.values(), key=str) == ["ci-1", "ci-2"]
    (ci1,) = [run for run, key in keys.items() if key == "ci-1"]

    retry = project.invoke("workflow", "--resume", "--run-key=ci-1", env={"BAD": "true"})
    assert retry.code == 0, retry.err
    assert ci1 in retry.out
    assert len(project.runs()) == 2  # the newer ci-2 run was not the one continued
    assert project.checkpoint(project.store / ci1)["status"] == "completed"
    assert log_lines(project) == ["ok", "ok", "after"]  # step 0 of ci-1 was not run again

    again = project.invoke("workflow", "--resume", "--run-key=ci-1")
    assert again.code == 0
    assert "already completed" in again.out


def test_the_run_key_comes_from_the_config_too(project: Project) -> None:
    project.use("bad_middle")
    env = {"INVOKE_CHECKPOINTS_RUN_KEY": "12345", "BAD": "false"}
    assert project.invoke("workflow", "--resume", env=env).code == 1
    assert list(_keys(project).values()) == ["12345"]
    done = project.invoke("workflow", "--resume", env={**env, "BAD": "true"})
    assert done.code == 0, done.err
    assert len(project.runs()) == 1
    status = json.loads(project.invoke("workflow.status", "--json").out)
    assert status["status"] == "completed"


def test_a_malformed_run_key_is_refused_in_one_line(project: Project) -> None:
    project.use("bad_middle")
    refused = project.invoke("workflow", "--resume", "--run-key=" + "x" * 201)
    assert refused.code == 2
    assert "--run-key" in one_line(refused)
    assert project.runs() == []


def test_import_refuses_an_archive_with_anything_but_a_run_s_files(
    project: Project, tmp_path: Path
) -> None:
    import io
    import tarfile

    project.use("bad_middle")
    assert project.invoke("workflow", env={"BAD": "false"}).code == 1
    run = project.only_run()
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in [
            (f"{run.name}/checkpoint.json", (run / "checkpoint.json").read_bytes()),
            ("../outside.txt", b"boom"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    other = tmp_path / "other"
    other.mkdir()
    refused = project.invoke(
        "workflow.import", f"--input={archive}", env={"INVOKE_CHECKPOINTS_DIR": str(other)}
    )
    assert refused.code == 2
    assert "is not a file of a run" in one_line(refused)
    assert not any(p.name.startswith("workflow_") for p in other.iterdir())
    assert not (tmp_path / "outside.txt").exists()
