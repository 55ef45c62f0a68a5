"""`python -m sandbox.server --seed` as a newcomer runs it: the export line alone points boto3
at it, and the seeded deployment looks like a correct one."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.documents import checked

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Started:
    info: dict[str, str]
    env: dict[str, str]


def _clean_env() -> dict[str, str]:
    """This process's environment without anything AWS: what a fresh shell has."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MEMORYDB_"))}


@pytest.fixture(scope="module")
def started() -> Iterator[Started]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.server", "--seed"],
        cwd=ROOT,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        info = json.loads(process.stdout.readline())
        export = ""
        while not export.startswith("export "):
            export = process.stderr.readline()
            assert export, "the server ended before it printed the export line"
        env = _clean_env()
        for assignment in shlex.split(export.removeprefix("export ")):
            name, _, value = assignment.partition("=")
            env[name] = value
        yield Started(info, env)
    finally:
        # SIGINT, as Ctrl-C: the server stops its nodes on KeyboardInterrupt, while SIGTERM
        # would end it and leave its redis-server processes running.
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def _python(started: Started, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=started.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_export_line_is_enough_for_boto3(started: Started) -> None:
    # boto3 (like the AWS CLI) reads AWS_DEFAULT_REGION, not AWS_REGION.
    assert started.env["AWS_DEFAULT_REGION"] == started.env["AWS_REGION"]
    code = (
        "import boto3, sys; "
        f"print(boto3.client('secretsmanager').describe_secret(SecretId='{started.info['secret']}')"
        "['RotationEnabled'])"
    )
    result = _python(started, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_doctor_passes_every_check_on_the_seeded_deployment(started: Started) -> None:
    # The CA bundle comes from the export line (MEMORYDB_ROTATION_CA_BUNDLE), as for a newcomer.
    command = [sys.executable, "-m", "memorydb_rotation_cli.app", "doctor"]
    result = subprocess.run(
        [*command, started.info["secret"], "--json"],
        env=started.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    doc = checked(json.loads(result.stdout))
    failing = {c["id"]: c["detail"] for c in doc["checks"] if c["result"] != "pass"}
    assert (result.returncode, failing) == (0, {})
    assert doc["verdict"]["code"] == "ok"
