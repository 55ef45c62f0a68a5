"""The CLI against the sandbox served over HTTP (moto + the faithful patches + real nodes)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from typer.testing import CliRunner

from memorydb_rotation_cli.app import app
from memorydb_rotation_cli.aws import Aws
from sandbox.sandbox import Sandbox
from sandbox.server import ServedSandbox
from tests.cli.documents import checked

_names = itertools.count(1)


class Stubs:
    def __init__(self) -> None:
        self.aws = Aws(
            boto3.Session(
                region_name="eu-west-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x"
            )
        )
        self.stubbers: dict[str, Stubber] = {}

    def __call__(self, service: str) -> Stubber:
        if service not in self.stubbers:
            # Bypass any AWS_ENDPOINT_URL: the stubbed client never sends a request anyway.
            client = self.aws.session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=f"https://{service}.example",
            )
            self.aws._clients[service] = client
            self.stubbers[service] = Stubber(client)
            self.stubbers[service].activate()
        return self.stubbers[service]

    def done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


@pytest.fixture
def stubs() -> Iterator[Stubs]:
    box = Stubs()
    yield box
    box.done()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def doc(self) -> dict[str, Any]:
        """The `--json` document, once it validates against its command's schema."""
        loaded: dict[str, Any] = json.loads(self.stdout)
        return checked(loaded)


@dataclass
class Cli:
    served: ServedSandbox
    outputs: list[str] = field(default_factory=list)

    def __call__(self, *args: str, env: dict[str, str | None] | None = None) -> Result:
        result = CliRunner().invoke(app, list(args), catch_exceptions=False, env=env)
        out = Result(result.exit_code, result.stdout, result.stderr)
        self.outputs += [out.stdout, out.stderr]
        return out

    def json(self, *args: str) -> tuple[int, dict[str, Any]]:
        result = self(*args, "--json")
        return result.exit_code, result.doc


@dataclass
class Seeded:
    user: str
    password: str
    arn: str
    function_arn: str


@pytest.fixture(scope="module")
def served() -> Iterator[ServedSandbox]:
    with Sandbox(propagation_delay=0.05) as box, ServedSandbox(box) as server:
        server.deploy_function()
        yield server


@pytest.fixture
def cli(served: ServedSandbox) -> Iterator[Cli]:
    runner = Cli(served)
    yield runner
    # No output, in any mode, ever holds a password the sandbox has seen.
    served.wait_idle()
    passwords = set(served.sandbox.passwords_seen)
    listed = served.client("secretsmanager").list_secrets()["SecretList"]
    for arn in [secret["ARN"] for secret in listed]:
        view = served.sandbox.view(arn)
        passwords |= {v["password"] for v in view.values.values() if "password" in v}
    for text in runner.outputs:
        for password in passwords:
            assert password not in text


def seed(served: ServedSandbox, *, function: str = "memorydb-rotation") -> Seeded:
    """A fresh user in the default ACL, its secret, and rotation attached to `function`."""
    user = f"cli-user-{next(_names)}"
    password = served.sandbox.create_user(user)
    arn = served.sandbox.create_secret(user, password, rotation=False)
    function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function}"
    served.enable_rotation(arn, function_arn)
    return Seeded(user, password, arn, function_arn)


@pytest.fixture
def seeded(served: ServedSandbox) -> Seeded:
    return seed(served)
