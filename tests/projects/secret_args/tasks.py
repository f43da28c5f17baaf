"""deploy -> verify, with secret-looking step args and plugin environment values.

The test writes secrets.json: ``{"args": {...}, "environment": {...}}``. ``deploy`` is given
"args" as its step args (and appends ``deploy`` to log.txt); the plugin ``Vault`` reports
"environment" from ``checkpoints_environment``. ``verify`` exits 3 while a file ``fail``
exists.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from invoke import Collection, Context, task
from invoke.exceptions import Exit

from invoke_checkpoints import Step, hookimpl, workflow

if TYPE_CHECKING:
    from invoke_checkpoints import RunInfo

SECRETS: dict[str, Any] = json.loads(Path("secrets.json").read_text())


@task
def deploy(
    c: Context,
    api_token: str = "",
    clientSecret: str = "",
    DB_PASSWORD: str = "",
    passwd: str = "",
    ssh_key: str = "",
    aws_credentials: str = "",
    Authorization: str = "",
    auth_header: str = "",
    user: str = "",
    config: dict[str, str] | None = None,
    servers: list[dict[str, Any]] | None = None,
) -> None:
    with open("log.txt", "a") as f:
        f.write("deploy\n")


@task
def verify(c: Context) -> None:
    if os.path.exists("fail"):
        raise Exit("verify failed", 3)


class Vault:
    @hookimpl
    def checkpoints_environment(self, run: RunInfo) -> dict[str, Any]:
        environment: dict[str, Any] = SECRETS["environment"]
        return environment


ns = Collection(deploy, verify)
ns.add_collection(workflow(Step(deploy, args=SECRETS["args"]), verify, plugins=[Vault()]))
