"""Hostile and racing cases of the second round: the drop-after schedule, the first claim of an
untagged user, a shard being added, and late retries.

The races are interleaved at the AWS call where they happen: a botocore hook on the default
session (the one the function's clients come from) runs the other party's work right before or
right after the judged invocation's call. The other party uses a session of its own, so the hook
never fires for it, and its calls are set apart from the judged invocation's writes
(`Ctx.as_other_party`). Some cases are refusals; the others must come through with nothing broken
("kept safe"), and each says what "nothing broken" means for it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3

from rotation.adapters.memorydb import CLAIM_TAG_PREFIX, OWNER_TAG, MemoryDBDirectory
from rotation.adapters.redis_verifier import RedisVerifier
from rotation.adapters.secrets_manager import SecretsManagerStore
from rotation.composition import service
from rotation.handler import lambda_handler
from rotation.models import Invocation, RotationRequest
from rotation.rotator import Rotator
from rotation.settings import Settings
from sandbox.lambda_context import LocalLambdaContext
from sandbox.sandbox import LAMBDA_ARN, REGION, SCHEDULE_GROUP, SCHEDULER_ROLE_ARN
from tests.reliability.campaign.badinput import BadCase, Ctx, outcome_of

GRACE_SECONDS = 600
DROP_AFTER: dict[str, str | None] = {
    "OLD_PASSWORD_POLICY": "drop-after",
    "OLD_PASSWORD_GRACE_SECONDS": str(GRACE_SECONDS),
    "SCHEDULE_GROUP_NAME": SCHEDULE_GROUP,
    "SCHEDULER_ROLE_ARN": SCHEDULER_ROLE_ARN,
}
ALL_STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")
_hooks: list[tuple[str, Callable[..., None]]] = []


# -- the other party -------------------------------------------------------------------------------


def _other_rotator() -> Rotator:
    """The function as another invocation runs it, on clients the judged one's hooks never see."""
    session = boto3.session.Session(region_name=REGION)
    settings = Settings.from_env()
    return Rotator(
        SecretsManagerStore(boto3_client=session.client("secretsmanager")),
        MemoryDBDirectory(boto3_client=session.client("memorydb")),
        RedisVerifier(ca_bundle=settings.ca_bundle_path, timeout_seconds=5),
        settings,
    )


def _other_steps(secret: str, token: str, *steps: str) -> None:
    rotator = _other_rotator()
    for step in steps:
        request = RotationRequest.from_event(
            {"Step": step, "SecretId": secret, "ClientRequestToken": token}
        )
        rotator.handle(request, Invocation(time_left_seconds=60, function_arn=LAMBDA_ARN))


def _hook(event: str, action: Callable[[], None]) -> None:
    """Run `action` once, at the first `event` of the function's clients (built after this)."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    assert boto3.DEFAULT_SESSION is not None
    fired: list[bool] = []

    def once(**_: Any) -> None:
        if not fired:
            fired.append(True)
            action()

    boto3.DEFAULT_SESSION.events.register(event, once)
    _hooks.append((event, once))
    service.cache_clear()  # the next invocation builds its clients, hooked, as a cold start would


def _unhook(_ctx: Ctx) -> None:
    assert boto3.DEFAULT_SESSION is not None or not _hooks
    while _hooks:
        event, handler = _hooks.pop()
        assert boto3.DEFAULT_SESSION is not None
        boto3.DEFAULT_SESSION.events.unregister(event, handler)
    service.cache_clear()


def _rival(ctx: Ctx) -> str:
    """A second secret naming the same (untagged) user, with a rotation of its own staged."""
    rival = ctx.sandbox.create_secret(ctx.user, ctx.password, name=f"{ctx.user}/rival")
    token = str(uuid.uuid4())
    ctx.sandbox.stage_pending(rival, token)
    ctx.notes.update(rival=rival, rival_token=token)
    return rival


def _tags(ctx: Ctx) -> dict[str, str]:
    listed = ctx.sandbox.memorydb_client.list_tags(ResourceArn=ctx.sandbox.user_arn(ctx.user))
    return {t["Key"]: t["Value"] for t in listed["TagList"]}


def _claims_of(ctx: Ctx, secret: str) -> list[str]:
    return [k for k, v in _tags(ctx).items() if k.startswith(CLAIM_TAG_PREFIX) and v == secret]


# -- two first claims at once ----------------------------------------------------------------------


def _rival_rotates_before_our_claim(ctx: Ctx) -> None:
    """B's createSecret and setSecret run between our ListTags (no owner) and our TagResource."""
    rival = _rival(ctx)
    _hook(
        "before-call.memorydb.TagResource",
        lambda: ctx.as_other_party(
            lambda: _other_steps(rival, ctx.notes["rival_token"], "createSecret", "setSecret")
        ),
    )


def _rival_claim_stands_whole(ctx: Ctx) -> list[str]:
    rival = ctx.notes["rival"]
    problems = []
    if _tags(ctx) != {OWNER_TAG: rival}:
        problems.append("the tags are not the rival's owner tag alone")
    ctx.sandbox.settle()
    pending = ctx.sandbox.view(rival).password("AWSPENDING")
    if ctx.sandbox.control_plane_passwords(ctx.user) != [ctx.password, pending]:
        problems.append("the rival's pending password is not in the user's set beside the current")
    _other_steps(rival, ctx.notes["rival_token"], "testSecret")  # raises if it no longer works
    if ctx.sandbox.view(ctx.arn).password("AWSPENDING") is not None:
        problems.append("the refused secret wrote a pending version")
    return problems


def _rival_claims_between_our_claim_and_read_back(ctx: Ctx) -> None:
    """B's claim lands right after ours, before we read the tags back."""
    rival = _rival(ctx)

    def rival_claims() -> None:
        ctx.sandbox.memorydb_client.tag_resource(
            ResourceArn=ctx.sandbox.user_arn(ctx.user),
            Tags=[{"Key": f"{CLAIM_TAG_PREFIX}{time.time_ns():020d}", "Value": rival}],
        )

    _hook("after-call.memorydb.TagResource", lambda: ctx.as_other_party(rival_claims))


def _we_withdrew_and_the_rival_can_own(ctx: Ctx) -> list[str]:
    problems = []
    if _claims_of(ctx, ctx.arn) or OWNER_TAG in _tags(ctx):
        problems.append("our claim or an owner tag was left on the user")
    rival = ctx.notes["rival"]
    _other_steps(rival, ctx.notes["rival_token"], "createSecret")  # the rival's claim goes on
    if _tags(ctx) != {OWNER_TAG: rival}:
        problems.append("the rival could not become the owner after we withdrew")
    return problems


# -- a node that is not there yet ------------------------------------------------------------------


def _shard_being_added(ctx: Ctx) -> None:
    ctx.notes["creating"] = ctx.sandbox.add_creating_shard()


def _shard_added(ctx: Ctx) -> None:
    ctx.sandbox.finish_creating_shards()


def _current_not_moved(ctx: Ctx) -> list[str]:
    if ctx.sandbox.view(ctx.arn).version_with("AWSCURRENT") == ctx.token:
        return ["AWSCURRENT moved to the new version"]
    return []


# -- drop-after: the event, edits and switches during the grace ------------------------------------


def _schedules_of(ctx: Ctx) -> list[Any]:
    return [
        s
        for s in ctx.sandbox.scheduler.schedules()
        if json.loads(s.target.get("Input") or "{}").get("SecretId")
        in (ctx.arn, ctx.notes.get("name"))
    ]


def _delete_schedules(ctx: Ctx) -> None:
    client = boto3.session.Session(region_name=REGION).client("scheduler")
    for schedule in _schedules_of(ctx):
        client.delete_schedule(Name=schedule.name, GroupName=schedule.group_name)


def _finish_by_name(ctx: Ctx) -> None:
    ctx.notes["name"] = ctx.sandbox.sm_client.describe_secret(SecretId=ctx.arn)["Name"]
    ctx.event["SecretId"] = ctx.notes["name"]


def _scheduled_with_the_arn_and_dropped(ctx: Ctx) -> list[str]:
    inputs = [json.loads(s.target["Input"]) for s in _schedules_of(ctx)]
    if [i.get("SecretId") for i in inputs] != [ctx.arn]:
        return [f"not one schedule carrying the secret's ARN: {len(inputs)} schedule(s)"]
    ctx.sandbox.finish_rotation(ctx.arn, ctx.token)
    firings = ctx.sandbox.pass_time(GRACE_SECONDS + 1)
    if not any(f.succeeded and f.event.get("SecretId") == ctx.arn for f in firings):
        return ["the schedule's drop did not succeed"]
    ctx.sandbox.settle()
    if ctx.sandbox.authenticates(ctx.user, ctx.password):
        return ["the old password still works after the grace"]
    return []


def _rotated_then(change: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    """After the whole rotation (the service's clean-up too), `change`, then the judged event is
    the drop the schedule would send."""

    def prepare(ctx: Ctx) -> None:
        ctx.sandbox.finish_rotation(ctx.arn, ctx.token)
        [schedule] = _schedules_of(ctx)
        change(ctx)
        ctx.event = json.loads(schedule.target["Input"])

    return prepare


def _edit_keeping_the_password(ctx: Ctx) -> None:
    current = json.loads(ctx.sandbox.sm_client.get_secret_value(SecretId=ctx.arn)["SecretString"])
    ctx.sandbox.sm_client.put_secret_value(
        SecretId=ctx.arn,
        SecretString=json.dumps(current | {"owner_team": "payments"}),
        VersionStages=["AWSCURRENT"],
    )


def _switch_to_keep(ctx: Ctx) -> None:
    ctx.sandbox.configure_function(OLD_PASSWORD_POLICY="keep")


def _dropped_to_current(ctx: Ctx) -> list[str]:
    said = outcome_of(ctx)
    problems = []
    if (said.get("outcome"), said.get("old_password")) != ("grace_over", "dropped"):
        problems.append(f"the drop said {said.get('outcome')}/{said.get('old_password')}")
    if "was edited during the grace" not in str(said.get("reason")):
        problems.append("the drop's log line does not say AWSCURRENT was edited")
    ctx.sandbox.settle()
    if ctx.sandbox.authenticates(ctx.user, ctx.password):
        problems.append("the old password still works")
    return problems


def _kept_for_keep(ctx: Ctx) -> list[str]:
    said = outcome_of(ctx)
    problems = []
    if said.get("kept_because") != "policy_keep":
        problems.append(f"kept_because is {said.get('kept_because')}, not policy_keep")
    if not ctx.sandbox.authenticates(ctx.user, ctx.password):
        problems.append("the old password stopped working under keep")
    return problems


# -- a late finishSecret of an earlier rotation ----------------------------------------------------


def _next_rotation_under_way(ctx: Ctx) -> None:
    """Rotation N is done; N+1 ran createSecret and setSecret; then N's finishSecret comes again
    (Secrets Manager retries)."""
    ctx.sandbox.finish_rotation(ctx.arn, ctx.token)
    following = str(uuid.uuid4())
    ctx.sandbox.stage_pending(ctx.arn, following)
    for step in ("createSecret", "setSecret"):
        lambda_handler(
            {"Step": step, "SecretId": ctx.arn, "ClientRequestToken": following},
            LocalLambdaContext(),
        )
    ctx.notes["following"] = following


def _following_rotation_still_proves(ctx: Ctx) -> list[str]:
    said = outcome_of(ctx)
    problems = []
    if said.get("kept_because") != "rotation_in_progress":
        problems.append(f"kept_because is {said.get('kept_because')}, not rotation_in_progress")
    ctx.sandbox.settle()
    pending = ctx.sandbox.view(ctx.arn).password("AWSPENDING")
    if pending is None or not ctx.sandbox.authenticates(ctx.user, pending):
        problems.append("the following rotation's pending password no longer authenticates")
    lambda_handler(  # raises if the pending password was dropped
        {"Step": "testSecret", "SecretId": ctx.arn, "ClientRequestToken": ctx.notes["following"]},
        LocalLambdaContext(),
    )
    return problems


CASES: tuple[BadCase, ...] = (
    BadCase(
        "two first claims: the rival's createSecret and setSecret before our TagResource",
        r"was claimed by secret \S+/rival-\w+ while secret",
        prepare=_rival_rotates_before_our_claim,
        writes_allowed=("TagResource", "UntagResource"),
        holds=_rival_claim_stands_whole,
        undo=_unhook,
    ),
    BadCase(
        "two first claims: the rival's claim lands between our claim and its read-back",
        r"claim user '.*' at the same time as secret",
        prepare=_rival_claims_between_our_claim_and_read_back,
        writes_allowed=("TagResource", "UntagResource"),
        holds=_we_withdrew_and_the_rival_can_own,
        undo=_unhook,
    ),
    BadCase(
        "a node listed as creating, without an endpoint (createSecret)",
        r"without an endpoint yet: sandbox-cluster/sandbox-cluster-0002-001 \(creating\)",
        prepare=_shard_being_added,
        undo=_shard_added,
    ),
    BadCase(
        "a node listed as creating, without an endpoint (finishSecret under drop)",
        r"without an endpoint yet: .*\(creating\)",
        step="finishSecret",
        settings={"OLD_PASSWORD_POLICY": "drop"},
        before=("createSecret", "setSecret", "testSecret"),
        prepare=_shard_being_added,
        holds=_current_not_moved,
        undo=_shard_added,
    ),
    BadCase(
        "finishSecret naming the secret by name under drop-after",
        "",
        kind="kept safe",
        step="finishSecret",
        settings=DROP_AFTER,
        before=("createSecret", "setSecret", "testSecret"),
        prepare=_finish_by_name,
        writes_allowed=("UpdateSecretVersionStage", "CreateSchedule"),
        holds=_scheduled_with_the_arn_and_dropped,
        undo=_delete_schedules,
    ),
    BadCase(
        "a late finishSecret of rotation N while N+1 is pending (policy drop)",
        "",
        kind="kept safe",
        step="finishSecret",
        settings={"OLD_PASSWORD_POLICY": "drop"},
        before=ALL_STEPS,
        prepare=_next_rotation_under_way,
        holds=_following_rotation_still_proves,
    ),
    BadCase(
        "AWSCURRENT edited during the grace, its password kept",
        "",
        kind="kept safe",
        settings=DROP_AFTER,
        before=ALL_STEPS,
        prepare=_rotated_then(_edit_keeping_the_password),
        writes_allowed=("UpdateUser",),
        holds=_dropped_to_current,
        undo=_delete_schedules,
    ),
    BadCase(
        "the policy switched to keep during the grace",
        "",
        kind="kept safe",
        settings=DROP_AFTER,
        before=ALL_STEPS,
        prepare=_rotated_then(_switch_to_keep),
        holds=_kept_for_keep,
        undo=_delete_schedules,
    ),
)
