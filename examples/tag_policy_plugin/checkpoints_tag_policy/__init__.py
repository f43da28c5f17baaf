"""invoke-checkpoints-tag-policy: skip the steps whose tags the configuration names.

``checkpoints.plugin_config.tag_policy.skip``: tags whose steps are skipped;
``...tag_policy.only``: tags a step must carry one of to run. Both take a list or a
comma-separated string. A decision hook: no side effects, so ``--dry-run`` shows it too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from invoke_checkpoints import hookimpl

if TYPE_CHECKING:
    from invoke_checkpoints import RunInfo, StepInfo

__all__ = ["NAME", "decide"]

NAME = "tag_policy"


def _tags(value: Any) -> set[str]:
    if isinstance(value, str):
        return {tag.strip() for tag in value.split(",") if tag.strip()}
    return {str(tag) for tag in value or ()}


def decide(config: dict[str, Any], tags: frozenset[str]) -> str | None:
    """The skip reason for a step with ``tags`` under ``config``, or ``None`` to run it."""
    hit = sorted(tags & _tags(config.get("skip")))
    if hit:
        return f"tag policy: skip {', '.join(hit)}"
    only = _tags(config.get("only"))
    if only and not tags & only:
        return f"tag policy: only {', '.join(sorted(only))}"
    return None


@hookimpl
def checkpoints_should_skip_step(run: RunInfo, step: StepInfo) -> str | None:
    return decide(run.config(NAME), step.tags)
