"""The two moto quirks the CLI's checks depend on, fixed in sandbox/secretsmanager.py.

No redis here: moto in process with the strict patches, a clock moved by hand.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sandbox.secretsmanager import StrictSecretsManager

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def sm(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, StrictSecretsManager]]:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws(), StrictSecretsManager(ACCOUNT, REGION).patched() as strict:
        yield boto3.client("secretsmanager", region_name=REGION), strict


def _rotate_by_hand(client: Any, strict: StrictSecretsManager, arn: str) -> tuple[str, str]:
    """What a rotation leaves: a new AWSCURRENT moved by UpdateSecretVersionStage."""
    old = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    (current,) = [v for v, s in old.items() if "AWSCURRENT" in s]
    token = str(uuid.uuid4())
    strict.stage_pending(arn, token)
    client.put_secret_value(
        SecretId=arn, ClientRequestToken=token, SecretString="v2", VersionStages=["AWSPENDING"]
    )
    client.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current
    )
    strict.finish_rotation(arn, token)
    return current, token


def test_created_date_is_when_the_version_was_created(
    sm: tuple[Any, StrictSecretsManager], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, strict = sm
    arn = client.create_secret(Name="s", SecretString="v1")["ARN"]
    token = str(uuid.uuid4())
    strict.stage_pending(arn, token)
    later = time.time() + 7200
    monkeypatch.setattr(time, "time", lambda: later)
    listed = client.list_secret_version_ids(SecretId=arn)["Versions"]
    created = {v["VersionId"]: v["CreatedDate"].timestamp() for v in listed}
    # moto alone says "now" (two hours on) for both; the versions were created before that.
    assert all(moment < later - 3600 for moment in created.values())
    # Writing the pending value later does not make the version younger.
    client.put_secret_value(
        SecretId=arn, ClientRequestToken=token, SecretString="v2", VersionStages=["AWSPENDING"]
    )
    again = client.list_secret_version_ids(SecretId=arn)["Versions"]
    assert {v["VersionId"]: v["CreatedDate"].timestamp() for v in again} == created


def test_put_secret_value_moves_awscurrent_after_a_rotation(
    sm: tuple[Any, StrictSecretsManager],
) -> None:
    client, strict = sm
    arn = client.create_secret(Name="s", SecretString="v1")["ARN"]
    first, second = _rotate_by_hand(client, strict, arn)
    put = client.put_secret_value(SecretId=arn, SecretString="v3")["VersionId"]
    stages = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    holders = [v for v, s in stages.items() if "AWSCURRENT" in s]
    assert holders == [put]
    assert stages[second] == ["AWSPREVIOUS"]
    assert not stages.get(first)
    assert client.get_secret_value(SecretId=arn)["SecretString"] == "v3"


def test_put_secret_value_keeps_the_other_labels_of_the_version_it_leaves(
    sm: tuple[Any, StrictSecretsManager],
) -> None:
    client, strict = sm
    arn = client.create_secret(Name="s", SecretString="v1")["ARN"]
    (current,) = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    strict.set_version_stages(arn, current, ["AWSCURRENT", "MINE"])
    put = client.put_secret_value(SecretId=arn, SecretString="v2")["VersionId"]
    stages = client.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert sorted(stages[current]) == ["AWSPREVIOUS", "MINE"]
    assert stages[put] == ["AWSCURRENT"]
