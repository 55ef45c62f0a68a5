"""The CLI's secret_policy.py: who besides the rotation role may write a secret's versions."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from memorydb_rotation_cli.secret_policy import (
    GUARDED_ACTIONS,
    LIFECYCLE_ACTIONS,
    RECOMMENDED_ACTIONS,
    ROTATION_WRITES,
    SecretPolicyError,
    check_secret_policy,
    denies,
    main,
    recommended_policy,
)

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/memorydb-rotation-RotationRole-1A2B3C"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/platform-admin"
SSO_ADMIN = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123abcd"
)
ROOT = f"arn:aws:iam::{ACCOUNT}:root"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:memorydb/app-user-AbCdEf"
APP = f"arn:aws:iam::{ACCOUNT}:role/app-with-secretsmanager-star"


def _policy() -> dict[str, Any]:
    return recommended_policy(ROLE, [ADMIN, SSO_ADMIN])


def _problems(policy: Any, **kwargs: Any) -> list[str]:
    return check_secret_policy(policy, ROLE, **kwargs).problems


# --- the recommended policy holds ------------------------------------------------------------


def test_the_recommended_policy_has_no_problems() -> None:
    result = check_secret_policy(
        _policy(), ROLE, administrators=[ADMIN, SSO_ADMIN], actions=RECOMMENDED_ACTIONS
    )

    assert result.problems == []
    assert result.other_writers == sorted([ADMIN, ROOT, SSO_ADMIN])


def test_it_reads_get_resource_policys_json_string() -> None:
    assert _problems(json.dumps(_policy()), administrators=[ADMIN, SSO_ADMIN]) == []


@pytest.mark.parametrize("action", RECOMMENDED_ACTIONS)
def test_the_recommended_policy_as_iam_would_decide_it(action: str) -> None:
    policy = _policy()
    rotation_may = action in ROTATION_WRITES

    assert denies(policy, action, ROLE) is not rotation_may
    for manager in (ADMIN, SSO_ADMIN, ROOT):
        assert denies(policy, action, manager) is False
    for stranger in (
        APP,
        f"arn:aws:iam::{ACCOUNT}:user/alice",
        f"arn:aws:iam::{ACCOUNT}:role/platform-admin-2",  # a prefix of a name is not the name
        f"arn:aws:iam::{ACCOUNT}:role/PLATFORM-ADMIN",  # ARN matching is case-sensitive
        "arn:aws:iam::999999999999:role/platform-admin",
        None,  # a caller with no principal ARN (a service)
    ):
        assert denies(policy, action, stranger) is True, stranger


def test_named_administrators_are_listed_not_flagged_when_the_caller_does_not_know_them() -> None:
    result = check_secret_policy(_policy(), ROLE)

    assert result.problems == []
    assert result.other_writers == sorted([ADMIN, ROOT, SSO_ADMIN])


def test_a_writer_the_caller_did_not_name_is_a_problem() -> None:
    problems = _problems(_policy(), administrators=[ADMIN])

    assert problems == [
        f"{SSO_ADMIN} may also call PutSecretValue, UpdateSecretVersionStage, UpdateSecret, "
        "PutResourcePolicy, DeleteResourcePolicy"
    ]


# --- no policy, or one that does not hold ------------------------------------------------------


@pytest.mark.parametrize("policy", [None, ""])
def test_a_secret_without_a_policy_is_flagged(policy: str | None) -> None:
    problems = _problems(policy)

    assert len(problems) == 1
    assert "no resource policy" in problems[0]


def test_an_allow_only_policy_is_flagged() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "secretsmanager:*",
                "Resource": "*",
            }
        ],
    }

    problems = _problems(policy)

    for action in GUARDED_ACTIONS:
        assert f"a principal not named in the policy may call {action}: " in "\n".join(problems)
        assert f"an AWS service may call {action}: " in "\n".join(problems)


@pytest.mark.parametrize("dropped", GUARDED_ACTIONS)
def test_a_guarded_action_left_out_is_flagged(dropped: str) -> None:
    policy = _policy()
    for statement in policy["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != dropped]

    problems = _problems(policy, administrators=[ADMIN, SSO_ADMIN])

    assert f"a principal not named in the policy may call {dropped}: " in "\n".join(problems)


def test_lifecycle_actions_are_checked_only_when_asked() -> None:
    policy = _policy()
    policy["Statement"][1]["Action"] = [
        a for a in policy["Statement"][1]["Action"] if a not in LIFECYCLE_ACTIONS
    ]

    assert _problems(policy, administrators=[ADMIN, SSO_ADMIN]) == []
    assert len(
        _problems(policy, administrators=[ADMIN, SSO_ADMIN], actions=RECOMMENDED_ACTIONS)
    ) == 2 * len(LIFECYCLE_ACTIONS)  # a stranger in the account and one outside it, each


def test_a_policy_that_denies_the_rotation_role_is_flagged() -> None:
    policy = recommended_policy(ROLE, [ADMIN])
    policy["Statement"][0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"].remove(ROLE)

    problems = _problems(policy, administrators=[ADMIN])

    assert (
        f"the policy denies secretsmanager:PutSecretValue to the rotation role {ROLE}: "
        "rotation would fail"
    ) in problems
    assert any("UpdateSecretVersionStage to the rotation role" in p for p in problems)


@pytest.mark.parametrize(
    "exempt",
    [
        f"arn:aws:iam::{ACCOUNT}:role/*",
        f"arn:aws:iam::{ACCOUNT}:role/memorydb-rotation-*",
        "arn:aws:iam::*:role/platform-admin",
        "*",
    ],
)
def test_a_wildcard_exemption_is_flagged_even_when_named(exempt: str) -> None:
    policy = recommended_policy(ROLE, [exempt])

    problems = _problems(policy)

    assert any(p.startswith(f"{exempt} may also call PutSecretValue") for p in problems)


def test_an_arn_wildcard_stays_within_its_part() -> None:
    """A `*` in the account part matches any account, but not the colons around it."""
    policy = recommended_policy(ROLE, [])
    exempt = policy["Statement"][0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    exempt.append("arn:aws:iam::*:role/platform-admin")

    assert not denies(policy, "secretsmanager:PutSecretValue", ADMIN)
    assert not denies(policy, "secretsmanager:PutSecretValue", ADMIN.replace(ACCOUNT, "0" * 12))
    assert denies(policy, "secretsmanager:PutSecretValue", "arn:aws:iam::1:2:role/platform-admin")
    assert denies(policy, "secretsmanager:PutSecretValue", "platform-admin")


def test_string_operators_match_literally_so_a_star_exempts_no_one() -> None:
    """StringNotEquals does not expand `*`: the role is denied and rotation would fail."""
    policy = _policy()
    policy["Statement"][0]["Condition"] = {
        "StringNotEquals": {"aws:PrincipalArn": [f"arn:aws:iam::{ACCOUNT}:role/memorydb-*"]}
    }

    assert any("rotation would fail" in p for p in _problems(policy))


@pytest.mark.parametrize("operator", ["ArnNotLike", "StringNotLike", "ArnNotEqualsIfExists"])
def test_the_other_exemption_operators_are_understood(operator: str) -> None:
    policy = _policy()
    for statement in policy["Statement"]:
        statement["Condition"] = {operator: statement["Condition"]["ArnNotEquals"]}

    assert _problems(policy, administrators=[ADMIN, SSO_ADMIN]) == []


def test_a_blocklist_is_not_a_defence() -> None:
    policy = _policy()
    for statement in policy["Statement"]:
        statement["Condition"] = {"ArnEquals": {"aws:PrincipalArn": APP}}

    problems = _problems(policy, administrators=[ADMIN, SSO_ADMIN])

    assert any(p.startswith("a principal not named in the policy may call") for p in problems)
    assert denies(policy, "secretsmanager:PutSecretValue", APP)


@pytest.mark.parametrize(
    ("condition", "named"),
    [
        ({"StringNotEquals": {"aws:userid": ["AROAEXAMPLE:*"]}}, "StringNotEquals aws:userid"),
        ({"StringEquals": {"aws:SourceVpc": "vpc-0123"}}, "StringEquals aws:SourceVpc"),
        (
            {"ForAnyValue:StringNotLike": {"aws:PrincipalArn": ["x"]}},
            "ForAnyValue:StringNotLike aws:PrincipalArn",
        ),
    ],
)
def test_a_deny_under_a_condition_it_cannot_evaluate_is_not_credited(
    condition: dict[str, Any], named: str
) -> None:
    policy = _policy()
    policy["Statement"][0]["Condition"] = {**policy["Statement"][0]["Condition"], **condition}

    problems = _problems(policy, administrators=[ADMIN, SSO_ADMIN])

    assert any(named in p and "cannot evaluate" in p for p in problems)
    assert any("may call secretsmanager:PutSecretValue" in p for p in problems)


def test_not_action_denies_everything_else() -> None:
    """The other common form: deny all but the reads to everyone but the role."""
    policy = {
        "Statement": {
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "NotAction": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Resource": "*",
            "Condition": {"ArnNotLike": {"aws:PrincipalArn": [ROLE, ROOT]}},
        }
    }

    assert check_secret_policy(policy, ROLE, actions=RECOMMENDED_ACTIONS).problems == []
    assert not denies(policy, "secretsmanager:GetSecretValue", APP)


def test_actions_match_case_insensitively_with_wildcards() -> None:
    policy = _policy()
    policy["Statement"][0]["Action"] = ["SecretsManager:putsecretvalue", "secretsmanager:Update*"]

    assert _problems(policy, administrators=[ADMIN, SSO_ADMIN]) == []


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        ("not principal", "uses NotPrincipal"),
        ("named principal", "denies only the principals it names"),
        ("other resource", "does not apply to this secret"),
        ("not resource", "does not apply to this secret"),
    ],
)
def test_deny_statements_that_do_not_cover_everyone_are_explained(
    mutation: str, expected: str
) -> None:
    policy = _policy()
    statement = policy["Statement"][0]
    if mutation == "not principal":
        del statement["Principal"]
        statement["NotPrincipal"] = {"AWS": ROLE}
    elif mutation == "named principal":
        statement["Principal"] = {"AWS": APP}
    elif mutation == "other resource":
        statement["Resource"] = SECRET.replace("app-user", "other")
    else:
        del statement["Resource"]
        statement["NotResource"] = SECRET

    problems = _problems(policy, administrators=[ADMIN, SSO_ADMIN], secret_arn=SECRET)

    assert any(p.startswith("statement OnlyRotationWritesVersions " + expected) for p in problems)
    assert any("may call secretsmanager:PutSecretValue" in p for p in problems)


def test_a_statement_naming_the_secret_counts_when_the_secret_is_known() -> None:
    policy = _policy()
    for statement in policy["Statement"]:
        statement["Resource"] = SECRET[:-6] + "??????"

    assert _problems(policy, administrators=[ADMIN, SSO_ADMIN], secret_arn=SECRET) == []
    assert _problems(policy, administrators=[ADMIN, SSO_ADMIN])


def test_the_documented_policy_is_the_recommended_one() -> None:
    """docs/secret-policy.md's copy-paste JSON, with its example ARNs, passes the check."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "secret-policy.md").read_text()
    (block,) = re.findall(r"```json\n(.*?)```", text, re.DOTALL)
    role = "arn:aws:iam::111122223333:role/memorydb-rotation-RotationRole-EXAMPLE"
    admin = "arn:aws:iam::111122223333:role/secrets-admin"

    assert json.loads(block) == recommended_policy(role, [admin])
    assert check_secret_policy(block, role, administrators=[admin]).problems == []


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "role", "message"),
    [
        ('{"Statement": [', ROLE, "not JSON"),
        ("[1, 2]", ROLE, "not a JSON object"),
        ({"Statement": ["Deny"]}, ROLE, "statement of the resource policy is not a JSON object"),
        ({"Statement": []}, ROLE.replace(":role/", ":user/"), "not an IAM role ARN"),
        ({"Statement": []}, "memorydb-rotation-RotationRole", "not an IAM role ARN"),
    ],
)
def test_bad_input_is_a_named_error_without_the_input(policy: Any, role: str, message: str) -> None:
    with pytest.raises(SecretPolicyError, match=message) as caught:
        check_secret_policy(policy, role)

    assert "Statement" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_the_recommended_policy_refuses_a_role_that_is_not_one() -> None:
    with pytest.raises(SecretPolicyError):
        recommended_policy("arn:aws:iam::123456789012:user/someone", [])


def test_the_checker_does_not_change_its_input() -> None:
    policy = _policy()
    before = copy.deepcopy(policy)

    check_secret_policy(policy, ROLE, actions=RECOMMENDED_ACTIONS)

    assert policy == before


# --- the command line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stdin", "args", "expected"),
    [
        (json.dumps(recommended_policy(ROLE, [ADMIN])), [ROLE, "--admin", ADMIN], (0, "ok:")),
        (json.dumps(recommended_policy(ROLE, [ADMIN])), [ROLE], (0, f"also may write: {ADMIN}")),
        (json.dumps(recommended_policy(ROLE, [ADMIN])), [ROLE, "--admin", ROOT], (1, "problem:")),
        ("None\n", [ROLE], (1, "no resource policy")),
        ("{", [ROLE], (2, "")),
    ],
)
def test_the_command_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: str,
    args: list[str],
    expected: tuple[int, str],
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))

    assert main(args) == expected[0]
    assert expected[1] in capsys.readouterr().out
