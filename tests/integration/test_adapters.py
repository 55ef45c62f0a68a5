"""Adapters on moto (round trips) and botocore's Stubber (exact request shapes); the verifier
against a real redis-server over TCP and TLS."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from pydantic import SecretStr

from rotation import errors
from rotation.adapters.memorydb import MemoryDBDirectory
from rotation.adapters.secrets_manager import SecretsManagerStore
from rotation.models import MemoryDBUser
from sandbox import Sandbox

PW1 = "Password-one-0123456789"
PW2 = "Password-two-0123456789"
PW3 = "Password-three-0123456"


@pytest.fixture
def users(sandbox: Sandbox) -> MemoryDBDirectory:
    sandbox.create_user("app-user", password=PW1)
    return MemoryDBDirectory(boto3_client=sandbox.memorydb_client)


def test_describe_maps_the_user(users: MemoryDBDirectory, sandbox: Sandbox) -> None:
    user = users.describe("app-user")
    assert (user.name, user.status, user.auth_type, user.password_count) == (
        "app-user",
        "active",
        "password",
        1,
    )
    assert user.arn == sandbox.user_arn("app-user")


def test_missing_user_is_user_not_found(users: MemoryDBDirectory) -> None:
    with pytest.raises(errors.UserNotFoundError, match="nobody"):
        users.describe("nobody")


def test_set_passwords_replaces_the_set_and_goes_modifying(
    users: MemoryDBDirectory, sandbox: Sandbox
) -> None:
    # Long enough that the two calls below always see the change still propagating, even on a
    # loaded machine (the fixture's 50 ms is not).
    sandbox.set_propagation_delay(1.0)
    users.set_passwords("app-user", [SecretStr(PW1), SecretStr(PW2)])
    assert users.describe("app-user").status == "modifying"

    with pytest.raises(errors.UserBusyError):
        users.set_passwords("app-user", [SecretStr(PW2)])

    sandbox.settle()
    assert users.describe("app-user").password_count == 2
    assert sandbox.authenticates("app-user", PW1)
    assert sandbox.authenticates("app-user", PW2)


def test_never_more_than_two_passwords(users: MemoryDBDirectory) -> None:
    with pytest.raises(errors.InvalidPasswordError, match="1 to 2"):
        users.set_passwords("app-user", [SecretStr(PW1), SecretStr(PW2), SecretStr(PW3)])
    with pytest.raises(errors.InvalidPasswordError):
        users.set_passwords("app-user", [])


def test_the_sandbox_refuses_what_memorydb_refuses(sandbox: Sandbox) -> None:
    sandbox.create_user("app-user", password=PW1)
    client = sandbox.memorydb_client
    for passwords in ([PW1, PW2, PW3], ["short"], ["has,comma-0123456789"], [PW1, PW1]):
        with pytest.raises(client.exceptions.InvalidParameterValueException):
            client.update_user(
                UserName="app-user",
                AuthenticationMode={"Type": "password", "Passwords": passwords},
            )
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.update_user(
            UserName="default", AuthenticationMode={"Type": "password", "Passwords": [PW1]}
        )
    # An access-string update keeps the passwords (moto alone resets the count to 0).
    client.update_user(UserName="app-user", AccessString="on ~app:* +@read")
    user = client.describe_users(UserName="app-user")["Users"][0]
    assert user["Authentication"]["PasswordCount"] == 1


def test_update_user_request_shape() -> None:
    client = boto3.client("memorydb", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "update_user",
            {"User": {"Name": "app-user"}},
            {
                "UserName": "app-user",
                "AuthenticationMode": {"Type": "password", "Passwords": [PW1, PW2]},
            },
        )
        MemoryDBDirectory(boto3_client=client).set_passwords(
            "app-user", [SecretStr(PW1), SecretStr(PW2)]
        )
        stub.assert_no_pending_responses()


def test_update_user_errors_do_not_carry_the_request() -> None:
    client = boto3.client("memorydb", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("update_user", "InvalidParameterValueException", PW1)
        with pytest.raises(errors.AwsCallError) as raised:
            MemoryDBDirectory(boto3_client=client).set_passwords("app-user", [SecretStr(PW1)])
    assert PW1 not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None


def test_put_pending_request_shape_with_rotation_token() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    token = str(uuid.uuid4())
    rotation_token = "rotation-" + uuid.uuid4().hex
    with Stubber(client) as stub:
        stub.add_response(
            "put_secret_value",
            {},
            {
                "SecretId": "arn",
                "ClientRequestToken": token,
                "SecretString": "{}",
                "VersionStages": ["AWSPENDING"],
                "RotationToken": rotation_token,
            },
        )
        SecretsManagerStore(boto3_client=client).put_pending(
            "arn", token, "{}", SecretStr(rotation_token)
        )
        stub.assert_no_pending_responses()


def test_promote_request_shape() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    new, old = str(uuid.uuid4()), str(uuid.uuid4())
    with Stubber(client) as stub:
        stub.add_response(
            "update_secret_version_stage",
            {},
            {
                "SecretId": "arn",
                "VersionStage": "AWSCURRENT",
                "MoveToVersionId": new,
                "RemoveFromVersionId": old,
            },
        )
        SecretsManagerStore(boto3_client=client).promote("arn", token=new, from_version=old)
        stub.assert_no_pending_responses()


def test_secret_store_round_trip(sandbox: Sandbox) -> None:
    store = SecretsManagerStore(boto3_client=sandbox.sm_client)
    arn = sandbox.create_secret("app-user", PW1)
    token = str(uuid.uuid4())
    sandbox.stage_pending(arn, token)

    meta = store.describe(arn)
    assert meta.rotation_enabled
    assert meta.versions[token] == ("AWSPENDING",)
    with pytest.raises(errors.SecretValueNotFoundError):
        store.get_value(arn, stage="AWSPENDING", version_id=token)

    store.put_pending(arn, token, '{"v": 1}', None)
    store.put_pending(arn, token, '{"v": 1}', None)  # the same value again is idempotent
    with pytest.raises(errors.AwsCallError, match="ResourceExistsException"):
        store.put_pending(arn, token, '{"v": 2}', None)
    assert store.get_value(arn, stage="AWSPENDING", version_id=token) == '{"v": 1}'

    current = meta.version_with("AWSCURRENT")
    assert current is not None
    store.promote(arn, token=token, from_version=current)
    after = store.describe(arn)
    assert "AWSCURRENT" in after.versions[token]
    assert after.versions[current] == ("AWSPREVIOUS",)
    assert store.get_value(arn, stage="AWSCURRENT") == '{"v": 1}'
    with pytest.raises(errors.SecretNotFoundError):
        store.describe("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf")


def test_moving_a_label_without_naming_its_holder_is_refused(sandbox: Sandbox) -> None:
    arn = sandbox.create_secret("app-user", PW1)
    token = str(uuid.uuid4())
    sandbox.stage_pending(arn, token)
    with pytest.raises(sandbox.sm_client.exceptions.InvalidParameterException):
        sandbox.sm_client.update_secret_version_stage(
            SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token
        )


def test_a_node_without_an_endpoint_yet_is_named_not_skipped() -> None:
    """A shard being added lists its node as `creating` with no Endpoint: proving on the others
    and dropping the old password would break that node once it serves."""
    client = boto3.client("memorydb", region_name="us-east-1")
    user = active_user()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_acls",
            {"ACLs": [{"Name": "app-acl", "UserNames": ["app-user"], "Clusters": ["c1"]}]},
            {"ACLName": "app-acl"},
        )
        node = {"Name": "c1-0001-001", "Status": "available"}
        stub.add_response(
            "describe_clusters",
            {
                "Clusters": [
                    {
                        "Name": "c1",
                        "TLSEnabled": True,
                        "ClusterEndpoint": {"Address": "c1.example", "Port": 6379},
                        "Shards": [
                            {"Nodes": [{**node, "Endpoint": {"Address": "n1", "Port": 6379}}]},
                            {"Nodes": [{"Name": "c1-0002-001", "Status": "creating"}]},
                        ],
                    }
                ]
            },
            {"ClusterName": "c1", "ShowShardDetails": True},
        )
        with pytest.raises(errors.NodeNotReadyError, match=r"c1/c1-0002-001 \(creating\)"):
            MemoryDBDirectory(boto3_client=client).topology(user)
        stub.assert_no_pending_responses()


def active_user() -> MemoryDBUser:
    return MemoryDBUser(
        name="app-user",
        arn="arn:aws:memorydb:us-east-1:123456789012:user/app-user",
        status="active",
        auth_type="password",
        password_count=1,
        acl_names=("app-acl",),
    )


def _stubbed_topology(*responses: tuple[str, dict[str, Any], dict[str, Any]]) -> Any:
    client = boto3.client("memorydb", region_name="us-east-1")
    with Stubber(client) as stub:
        for operation, response, expected in responses:
            stub.add_response(operation, response, expected)
        try:
            return MemoryDBDirectory(boto3_client=client).topology(active_user())
        finally:
            stub.assert_no_pending_responses()


_TLS_CLUSTER = {
    "Name": "c1",
    "TLSEnabled": True,
    "ClusterEndpoint": {"Address": "c1.example", "Port": 6379},
    "Shards": [{"Nodes": [{"Name": "n1", "Endpoint": {"Address": "n1.example", "Port": 6379}}]}],
}


def test_discovery_pages_through_every_answer() -> None:
    topology = _stubbed_topology(
        (
            "describe_acls",
            {"ACLs": [], "NextToken": "page-2"},
            {"ACLName": "app-acl"},
        ),
        (
            "describe_acls",
            {"ACLs": [{"Name": "app-acl", "UserNames": ["app-user"], "Clusters": ["c1"]}]},
            {"ACLName": "app-acl", "NextToken": "page-2"},
        ),
        (
            "describe_clusters",
            {"Clusters": [_TLS_CLUSTER]},
            {"ClusterName": "c1", "ShowShardDetails": True},
        ),
    )
    assert [str(node) for node in topology.nodes] == ["c1/n1"]


def test_an_acl_that_no_longer_lists_the_user_puts_it_nowhere() -> None:
    with pytest.raises(errors.NoClusterError, match="no ACL that a cluster uses"):
        _stubbed_topology(
            (
                "describe_acls",
                {"ACLs": [{"Name": "app-acl", "UserNames": ["someone-else"], "Clusters": ["c1"]}]},
                {"ACLName": "app-acl"},
            )
        )


@pytest.mark.parametrize(
    ("clusters", "match"),
    [([], "does not exist"), ([{**_TLS_CLUSTER, "Shards": []}], "lists no node")],
)
def test_a_cluster_that_is_gone_or_empty_is_named(clusters: list[Any], match: str) -> None:
    with pytest.raises(errors.NoClusterError, match=match):
        _stubbed_topology(
            (
                "describe_acls",
                {"ACLs": [{"Name": "app-acl", "UserNames": ["app-user"], "Clusters": ["c1"]}]},
                {"ACLName": "app-acl"},
            ),
            (
                "describe_clusters",
                {"Clusters": clusters},
                {"ClusterName": "c1", "ShowShardDetails": True},
            ),
        )


def test_an_answer_about_another_user_is_no_user() -> None:
    client = boto3.client("memorydb", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "describe_users", {"Users": [{"Name": "app-user-2"}]}, {"UserName": "app-user"}
        )
        with pytest.raises(errors.UserNotFoundError, match="no MemoryDB user 'app-user'"):
            MemoryDBDirectory(boto3_client=client).describe("app-user")
