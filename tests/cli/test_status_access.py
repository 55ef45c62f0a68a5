"""status when a read is denied: exit 2 and the call named, never a verdict on what it could not
see (Stubber, real request shapes)."""

from __future__ import annotations

from datetime import UTC, datetime

from memorydb_rotation_cli import status
from memorydb_rotation_cli.state import Inspector
from tests.cli.conftest import Stubs
from tests.cli.documents import checked
from tests.cli.test_doctor_checks import SECRET

VERSION = "0b5c7f1e-1111-4222-8333-944455556666"


def test_an_unreadable_current_value_is_an_access_error(stubs: Stubs) -> None:
    sm = stubs("secretsmanager")
    sm.add_response(
        "describe_secret",
        {"ARN": SECRET, "Name": "memorydb/app", "VersionIdsToStages": {VERSION: ["AWSCURRENT"]}},
        {"SecretId": "memorydb/app"},
    )
    sm.add_response(
        "list_secret_version_ids",
        {"Versions": [{"VersionId": VERSION, "CreatedDate": datetime(2026, 1, 1, tzinfo=UTC)}]},
        {"SecretId": "memorydb/app", "IncludeDeprecated": False},
    )
    sm.add_client_error(
        "get_secret_value",
        "AccessDeniedException",
        "not authorized",
        http_status_code=400,
        expected_params={
            "SecretId": "memorydb/app",
            "VersionId": VERSION,
            "VersionStage": "AWSCURRENT",
        },
    )
    doc = checked(status.run(Inspector(stubs.aws), "memorydb/app"))
    assert doc["exit_code"] == 2
    assert doc["verdict"]["code"] == "cannot-check"
    assert "GetSecretValue: access denied" in doc["verdict"]["message"]
    assert doc["versions"][0]["fingerprint"] is None
