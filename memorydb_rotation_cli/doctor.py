"""`doctor`: a read-only pre-flight checklist for one secret and its rotation function.

Each check answers pass, fail (with the fix), cannot-check (with the call that could not be made
and why) or not-deployed (it needs the rotation function, which does not exist yet). A check never
passes when it could not look. Before the first deployment doctor is a pre-flight: the checks of
the secret, the user, its clusters and nodes run; the function's say not-deployed, unless the
planned deployment is described (Planned: --role, --subnets, --security-groups, --policy), in
which case the role, network and KMS checks run against it and say so in their detail. The AWS
calls, per check:

| check | calls |
| --- | --- |
| secret-document | secretsmanager DescribeSecret, ListSecretVersionIds, GetSecretValue |
| user-exists, user-password, user-not-default | memorydb DescribeUsers |
| user-clusters, secret-host | memorydb DescribeACLs, DescribeClusters(ShowShardDetails) |
| one-secret-per-user | memorydb ListTags (owner tag); secretsmanager ListSecrets, GetSecretValue |
| rotation-function | (DescribeSecret) |
| function-settings, function-timeout | lambda GetFunctionConfiguration |
| network-cluster-port | ec2 DescribeSubnets, DescribeSecurityGroups (+ memorydb DescribeClusters) |
| network-aws-apis | ec2 DescribeVpcEndpoints, DescribeRouteTables (+ Scheduler's, drop-after) |
| role-permissions | iam SimulatePrincipalPolicy |
| kms-key | kms DescribeKey, GetKeyPolicy; iam SimulatePrincipalPolicy |
| secret-resource-policy | secretsmanager GetResourcePolicy |
| failure-alarm | cloudwatch DescribeAlarmsForMetric |
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from memorydb_rotation_cli.aws import CliError, aws_errors, describe_failure
from memorydb_rotation_cli.state import Function, Inspection, Inspector, function_name
from rotation.adapters.memorydb import CLAIM_TAG_PREFIX, OWNER_TAG
from rotation.adapters.scheduler import schedule_name
from rotation.errors import RotationError
from rotation.models import AWSCURRENT, Credentials

PASS, FAIL, CANNOT, NOT_DEPLOYED = "pass", "fail", "cannot-check", "not-deployed"
RESULTS = (PASS, FAIL, CANNOT, NOT_DEPLOYED)

# What the function calls on the secret and the user (rotation/adapters/*), checked with
# iam:SimulatePrincipalPolicy against the function's role.
SECRET_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
USER_ACTIONS = (
    "memorydb:DescribeUsers",
    "memorydb:UpdateUser",
    "memorydb:ListTags",
    "memorydb:TagResource",
    "memorydb:UntagResource",
)
# Under drop-after the function schedules the drop (rotation/adapters/scheduler.py) and passes
# the scheduler's role to EventBridge Scheduler.
SCHEDULE_ACTIONS = ("scheduler:CreateSchedule",)
PASS_ROLE_ACTIONS = ("iam:PassRole",)
TOPOLOGY_ACTIONS = ("memorydb:DescribeACLs", "memorydb:DescribeClusters")
# Reading every rotated secret's value to find duplicates is bounded.
MAX_SECRETS_COMPARED = 200

# The checklist in its order: (id, title, the Doctor method that runs it). The ids and the
# verdicts below are the vocabularies of doctor.schema.json (tests/cli/test_schemas.py).
CHECKS: tuple[tuple[str, str, str], ...] = (
    ("secret-document", "the secret's document", "secret_document"),
    ("user-exists", "the user exists", "user_exists"),
    ("user-password", "the user authenticates with passwords", "user_password"),
    ("user-not-default", "the user is not 'default'", "user_not_default"),
    ("user-clusters", "the user is in an ACL with clusters", "user_clusters"),
    ("secret-host", "the secret's host is one of the user's clusters", "secret_host"),
    ("current-on-nodes", "AWSCURRENT authenticates on every node", "current_on_nodes"),
    ("one-secret-per-user", "one secret per user", "one_secret_per_user"),
    ("rotation-function", "rotation points at the function", "rotation_function"),
    ("function-settings", "the function's settings allow the user", "function_settings"),
    ("function-timeout", "the function's timeout covers its waits", "function_timeout"),
    ("network-cluster-port", "the function reaches the cluster port", "network_port"),
    ("network-aws-apis", "the function reaches the AWS APIs it calls", "network_apis"),
    ("role-permissions", "the role may make every call", "role_permissions"),
    ("kms-key", "the role may decrypt the secret's key", "kms_key"),
    ("secret-resource-policy", "who may write versions is limited", "resource_policy"),
    ("failure-alarm", "an alarm on rotation failures", "failure_alarm"),
)
VERDICTS: dict[str, int] = {"ok": 0, "ready-to-deploy": 0, "fail": 1, "incomplete": 2}


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    result: str
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "result": self.result,
            "detail": self.detail,
            "fix": self.fix,
        }


POLICIES = ("drop", "keep", "drop-after")
# The shapes AWS gives these identifiers; a typo is refused before any read.
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class Planned:
    """The deployment a platform engineer is about to make: the role the function will run as,
    its subnets and security groups, its OLD_PASSWORD_POLICY (and, under drop-after, the
    schedule group and the scheduler role). Before the function exists, the role, network and
    KMS checks run against these; every value given is checked against the function once it
    exists (see Doctor._agree)."""

    role: str | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    policy: str | None = None
    schedule_group: str | None = None
    scheduler_role: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        role: str | None = None,
        subnets: str | None = None,
        security_groups: str | None = None,
        policy: str | None = None,
        schedule_group: str | None = None,
        scheduler_role: str | None = None,
    ) -> Planned:
        """The options as given, or CliError (a usage error) before anything is read."""
        planned = cls(
            role=role,
            subnets=_ids(subnets),
            security_groups=_ids(security_groups),
            policy=policy,
            schedule_group=schedule_group,
            scheduler_role=scheduler_role,
        )
        problems = []
        for flag, value in (("--role", role), ("--scheduler-role", scheduler_role)):
            if value is not None and not _ROLE_ARN.match(value):
                problems.append(f"{flag} must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        problems += [
            f"--subnets: '{s}' is not a subnet id" for s in planned.subnets if not _SUBNET.match(s)
        ]
        problems += [
            f"--security-groups: '{g}' is not a security group id"
            for g in planned.security_groups
            if not _GROUP.match(g)
        ]
        # The template's rules SubnetsNeedSecurityGroups and SecurityGroupsNeedSubnets.
        if bool(planned.subnets) != bool(planned.security_groups):
            problems.append("--subnets and --security-groups go together (as in the template)")
        if policy is not None and policy not in POLICIES:
            problems.append(f"--policy must be one of {', '.join(POLICIES)}")
        drop_after = policy == "drop-after"
        if drop_after and (schedule_group is None or scheduler_role is None):
            problems.append(
                "--policy drop-after needs --schedule-group and --scheduler-role (the schedule "
                "group and the role EventBridge Scheduler assumes)"
            )
        if not drop_after and (schedule_group is not None or scheduler_role is not None):
            problems.append("--schedule-group and --scheduler-role go with --policy drop-after")
        if problems:
            raise CliError("; ".join(problems))
        try:
            planned.settings()
        except RotationError as exc:
            raise CliError(f"the planned settings are invalid: {exc}") from None
        return planned

    @property
    def given(self) -> bool:
        return any((self.role, self.subnets, self.policy, self.schedule_group, self.scheduler_role))

    def environment(self) -> dict[str, str]:
        """The function's environment as the template would set it for these values."""
        values = {
            "OLD_PASSWORD_POLICY": self.policy,
            "SCHEDULE_GROUP_NAME": self.schedule_group,
            "SCHEDULER_ROLE_ARN": self.scheduler_role,
        }
        return {name: value for name, value in values.items() if value is not None}

    def settings(self) -> Any:
        from rotation.settings import Settings

        return Settings.from_env(self.environment())

    def disagreements(self, function: Function) -> list[str]:
        """How the deployed function differs from the values given (empty: it agrees)."""
        vpc = function.vpc
        deployed_env = function.environment
        pairs: list[tuple[str, Any, Any]] = [
            ("--role", self.role, function.role),
            ("--policy", self.policy, function.policy),
            ("--schedule-group", self.schedule_group, deployed_env.get("SCHEDULE_GROUP_NAME")),
            ("--scheduler-role", self.scheduler_role, deployed_env.get("SCHEDULER_ROLE_ARN")),
        ]
        found = [
            f"{flag} {given} but the function has {deployed or 'none'}"
            for flag, given, deployed in pairs
            if given is not None and given != deployed
        ]
        for flag, given_ids, key in (
            ("--subnets", self.subnets, "SubnetIds"),
            ("--security-groups", self.security_groups, "SecurityGroupIds"),
        ):
            deployed_ids = sorted(vpc.get(key) or [])
            if given_ids and sorted(given_ids) != deployed_ids:
                found.append(
                    f"{flag} {','.join(given_ids)} but the function has "
                    f"{','.join(deployed_ids) or 'none'}"
                )
        return found


def _ids(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


class CannotCheckError(Exception):
    """A read the check needs was refused or failed; the message says which and why."""


class NotDeployedError(Exception):
    """The check needs the rotation function, and there is none yet."""


def _call(what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:

    try:
        return fn(**kwargs)
    except aws_errors() as exc:
        raise CannotCheckError(describe_failure(exc, what)) from None


class Doctor:
    def __init__(
        self,
        inspector: Inspector,
        inspection: Inspection,
        function_arg: str | None,
        *,
        verifier: Any = None,
        connect_timeout: float = 5.0,
        planned: Planned | None = None,
    ):
        self.inspector = inspector
        self.aws = inspector.aws
        self.inspection = inspection
        self.function_arg = function_arg
        self.verifier = verifier
        self.connect_timeout = connect_timeout
        self.function: Function | None = None
        self.function_problem: str | None = None
        self.function_missing = False
        self.planned = planned if planned is not None and planned.given else None
        self._planned_used: list[str] = []
        """What of the planned deployment the running check used (its detail says so)."""
        self.planned_checks: list[str] = []
        """The ids of the checks that ran against the planned deployment."""

    # -- the whole checklist ----------------------------------------------------------------------

    def _load_function(self) -> None:
        if self.function is not None or self.function_problem is not None:
            return
        target = self.function_arg or self.inspection.secret.function_arn
        if target:
            unknown: list[Any] = []
            self.function = self.inspector.function(target, unknown)
            if unknown:
                self.function_problem = unknown[0].why
                self.function_missing = unknown[0].missing
        else:
            self.function_problem = "no function given and none attached to the secret"
            self.function_missing = True
        if self.function is not None and self.planned is not None:
            differ = self.planned.disagreements(self.function)
            if differ:
                # A deployed function is checked as deployed: a pass must never be read as a
                # check of values the function does not run with.
                raise CliError(
                    f"the function {self.function.name} exists and differs from the planned "
                    f"deployment: {'; '.join(differ)}. Drop those options to check the deployed "
                    "function, or redeploy it first"
                )

    def _plan(self) -> Planned | None:
        """The planned deployment when it stands in for a function that does not exist."""
        return self.planned if self.function is None and self.function_missing else None

    def _uses_planned(self, what: str) -> None:
        if what not in self._planned_used:
            self._planned_used.append(what)

    def checks(self, only: Iterable[str] | None = None) -> list[Check]:
        """Every check in order (or only those named), each pass, fail or cannot-check."""
        self._load_function()
        wanted = set(only) if only is not None else None
        runs: list[tuple[str, str, Callable[[], Check]]] = [
            (check_id, title, getattr(self, method)) for check_id, title, method in CHECKS
        ]
        results = []
        for check_id, title, run in runs:
            if wanted is not None and check_id not in wanted:
                continue
            self._planned_used = []
            try:
                check = run()
            except CannotCheckError as exc:
                check = Check(check_id, title, CANNOT, str(exc))
            except NotDeployedError as exc:
                check = Check(check_id, title, NOT_DEPLOYED, f"not deployed yet: {exc}")
            detail = check.detail
            if self._planned_used and check.result != NOT_DEPLOYED:
                # Never mistaken for a check of a deployed function.
                detail = f"planned: {', '.join(self._planned_used)}; {detail}"
                self.planned_checks.append(check_id)
            results.append(Check(check_id, title, check.result, detail, check.fix))
        return results

    # -- the secret and the user ------------------------------------------------------------------

    @property
    def current(self) -> Credentials | None:
        return self.inspection.secret.current

    def secret_document(self) -> Check:
        version = self.inspection.secret.holder(AWSCURRENT)
        if version is None:
            return _fail("no version is labelled AWSCURRENT", "put the documented JSON document")
        if version.credentials is not None:
            return _pass(
                f"AWSCURRENT is a MemoryDB credential for '{version.credentials.username}'"
            )
        if version.problem and "access denied" in version.problem:
            raise CannotCheckError(version.problem)
        return _fail(
            str(version.problem),
            "store the documented document (username, password, host, port, ssl; README, "
            "'The secret') with aws secretsmanager put-secret-value",
        )

    def _user(self) -> Any:
        if self.current is None:
            raise CannotCheckError("the secret's document names no user")
        if self.inspection.user is None:
            problem = self.inspection.user_problem or "DescribeUsers failed"
            if "no MemoryDB user" in problem:
                return None
            raise CannotCheckError(problem)
        return self.inspection.user

    def user_exists(self) -> Check:
        user, current = self._user(), self.current
        if user is None and current is not None:
            return _fail(
                f"there is no MemoryDB user '{current.username}'",
                "create the user (aws memorydb create-user) or fix 'username' in the secret",
            )
        return _pass(f"user '{user.name}' is {user.status}, PasswordCount {user.password_count}")

    def user_password(self) -> Check:
        user = self._user()
        if user is None:
            raise CannotCheckError("there is no such user")
        if user.auth_type != "password":
            return _fail(
                f"the user authenticates with '{user.auth_type}'",
                "rotate only password users; IAM users need no rotation",
            )
        return _pass("Authentication.Type is password")

    def user_not_default(self) -> Check:
        if self.current is None:
            raise CannotCheckError("the secret's document names no user")
        if self.current.username == "default":
            return _fail("the secret names the 'default' user", "use a user of your own")
        return _pass(f"'{self.current.username}'")

    def user_clusters(self) -> Check:
        user = self._user()
        if user is None:
            raise CannotCheckError("there is no such user")
        topology = self.inspection.topology
        if topology is None:
            problem = self.inspection.topology_problem or "no cluster"
            if "access denied" in problem or "failed" in problem:
                raise CannotCheckError(problem)
            return _fail(
                problem,
                "add the user to an ACL (aws memorydb update-acl --user-names-to-add) that a "
                "cluster uses",
            )
        clusters = ", ".join(c.name for c in topology.clusters)
        return _pass(
            f"ACLs {', '.join(topology.acls)}; clusters {clusters}; {len(topology.nodes)} node(s)"
        )

    def secret_host(self) -> Check:
        current, topology = self.current, self.inspection.topology
        if current is None or topology is None:
            raise CannotCheckError("needs the secret's document and the user's clusters")
        if current.host is None:
            return _pass("no host in the secret: the function uses the discovered endpoints")
        cluster = topology.cluster_serving(current.host, current.port)
        if cluster is not None:
            if current.ssl != cluster.tls:
                return _fail(
                    f"'ssl' is {str(current.ssl).lower()} but cluster {cluster.name} "
                    f"has TLSEnabled {str(cluster.tls).lower()}",
                    "set 'ssl' to match the cluster",
                )
            return _pass(f"'host' and 'port' are an endpoint of cluster {cluster.name}")
        return _fail(
            "'host'/'port' is not an endpoint of any cluster the user is in",
            "set 'host' to the cluster endpoint (or remove it): "
            + ", ".join(f"{c.endpoint.host}:{c.endpoint.port}" for c in topology.clusters),
        )

    def current_on_nodes(self) -> Check:
        """createSecret's first proof: the AWSCURRENT password authenticates as the user on every
        node MemoryDB names. A secret that does not hold the user's password is the commonest
        reason a first rotation is refused."""
        from rotation.proof import prove

        current, topology = self.current, self.inspection.topology
        if current is None or topology is None:
            raise CannotCheckError("needs the secret's document and the user's clusters")
        if self.verifier is None:
            raise CannotCheckError("no connection to the nodes was asked for")
        proof = prove(
            self.verifier,
            topology.nodes,
            current.username,
            current.password,
            seconds=self.connect_timeout,
            clock=time.monotonic,
        )
        if proof.rejected:
            return _fail(
                f"AWSCURRENT is {proof.describe()}",
                "store the user's actual password as AWSCURRENT (aws secretsmanager "
                "put-secret-value), or set the user's password to AWSCURRENT's (aws memorydb "
                "update-user --authentication-mode)",
            )
        if proof.unreachable:
            raise CannotCheckError(
                f"{proof.describe()}; run doctor where the nodes are reachable (the function's "
                "VPC) or pass --ca-bundle"
            )
        return _pass(f"AWSCURRENT is {proof.describe()}")

    def one_secret_per_user(self) -> Check:
        current = self.current
        if current is None:
            raise CannotCheckError("the secret's document names no user")
        user = self._user()
        if user is not None:
            try:
                owner = self.inspector.directory.owner(user)
            except RotationError as exc:
                raise CannotCheckError(str(exc)) from None
            if owner is not None and owner != self.inspection.secret.arn:
                return _fail(
                    f"the user's owner tag ({OWNER_TAG}) names another secret: {owner}",
                    "keep one secret per user: rotate the user through that secret, or remove "
                    "the tag (aws memorydb untag-resource) once that secret no longer rotates it",
                )
        sm = self.aws.client("secretsmanager")
        paginator = sm.get_paginator("list_secrets")
        pages = _call("ListSecrets", lambda: list(paginator.paginate()))
        candidates = [
            s
            for page in pages
            for s in page.get("SecretList", [])
            if s.get("RotationEnabled") and s.get("ARN") != self.inspection.secret.arn
        ][:MAX_SECRETS_COMPARED]
        same: list[str] = []
        for candidate in candidates:
            response = _call(
                "GetSecretValue",
                sm.get_secret_value,
                SecretId=candidate["ARN"],
                VersionStage=AWSCURRENT,
            )
            try:
                other = Credentials.parse(response.get("SecretString") or "")
            except RotationError:
                continue
            if other.username == current.username:
                same.append(candidate.get("Name", candidate["ARN"]))
        if same:
            return _fail(
                f"other secrets with rotation on hold user '{current.username}': "
                + ", ".join(same),
                "keep one secret per user: each rotation replaces the user's whole password set "
                "and breaks the other secret",
            )
        return _pass(f"no other secret with rotation on holds this user ({len(candidates)} read)")

    # -- the function -------------------------------------------------------------------------

    def _function(self) -> Function:
        if self.function is None:
            if self.function_missing:
                raise NotDeployedError(self.function_problem or "no rotation function")
            raise CannotCheckError(self.function_problem or "the function could not be read")
        return self.function

    def rotation_function(self) -> Check:
        secret = self.inspection.secret
        attached = secret.rotation_enabled and secret.function_arn
        if attached and self.function is None and self.function_missing:
            return _fail(
                f"rotation runs {secret.function_arn}, which does not exist",
                "deploy the function, or attach the deployed one with aws secretsmanager "
                "rotate-secret --rotation-lambda-arn",
            )
        if not attached and self.function is None and self.function_missing:
            raise NotDeployedError("the deployment enables rotation on the secret")
        if not attached or secret.function_arn is None:
            return _fail(
                "rotation is not enabled on the secret",
                f"aws secretsmanager rotate-secret --secret-id {secret.name} "
                "--rotation-lambda-arn <RotationFunctionArn> --rotation-rules "
                '\'{"ScheduleExpression": "rate(30 days)"}\'',
            )
        if self.function_arg and function_name(self.function_arg) != function_name(
            secret.function_arn
        ):
            return _fail(
                f"rotation runs {secret.function_arn}, not {self.function_arg}",
                "attach the intended function with aws secretsmanager rotate-secret "
                "--rotation-lambda-arn",
            )
        self._function()
        return _pass(f"rotation enabled with {secret.function_arn}")

    def _settings(self) -> Any:
        from rotation.settings import Settings

        return Settings.from_env(self._function().environment)

    def function_settings(self) -> Check:
        try:
            settings = self._settings()
        except RotationError as exc:
            return _fail(str(exc), "fix the function's environment variables (template parameters)")
        current = self.current
        if current is None:
            raise CannotCheckError("the secret's document names no user")
        if settings.allowed_users is not None and current.username not in settings.allowed_users:
            return _fail(
                f"ROTATION_ALLOWED_USERS does not include '{current.username}'",
                "add the user to the template's RotatableUsers parameter and redeploy",
            )
        return _pass(
            f"settings valid; OLD_PASSWORD_POLICY {settings.old_password_policy}; "
            "the user is allowed"
        )

    def function_timeout(self) -> Check:
        from rotation.composition import Service

        function = self._function()
        try:
            settings = self._settings()
        except RotationError as exc:
            raise CannotCheckError(f"the settings are invalid: {exc}") from None
        # The function's own budget: the Lambda's time less the reserve its last calls need.
        budget = Service(settings, None, None).time_left(function.timeout * 1000)  # type: ignore[arg-type]
        if budget < settings.wait_timeout_seconds:
            return _fail(
                f"Timeout {function.timeout} s leaves {budget:.0f} s to wait, less than "
                f"WAIT_TIMEOUT_SECONDS {settings.wait_timeout_seconds:.0f}",
                "raise the function's Timeout (the template uses 900) or lower "
                "WAIT_TIMEOUT_SECONDS",
            )
        return _pass(
            f"Timeout {function.timeout} s covers WAIT_TIMEOUT_SECONDS "
            f"{settings.wait_timeout_seconds:.0f} plus the reserve"
        )

    # -- the network --------------------------------------------------------------------------

    def _vpc(self) -> tuple[str, list[str], list[str]] | None:
        planned = self._plan()
        if planned is not None:
            if not planned.subnets:
                raise NotDeployedError(
                    f"{self.function_problem}; --subnets and --security-groups check the "
                    "planned network"
                )
            self._uses_planned(
                f"subnets {','.join(planned.subnets)}, security groups "
                f"{','.join(planned.security_groups)}"
            )
            return "", list(planned.subnets), list(planned.security_groups)
        vpc = self._function().vpc
        subnets, groups = list(vpc.get("SubnetIds") or []), list(vpc.get("SecurityGroupIds") or [])
        if not subnets:
            return None
        return str(vpc.get("VpcId", "")), subnets, groups

    def network_port(self) -> Check:
        placement = self._vpc()
        if placement is None:
            return _fail(
                "the function is not in a VPC, and MemoryDB clusters are reachable only inside one",
                "deploy with SubnetIds and SecurityGroupIds",
            )
        _vpc_id, subnets, function_groups = placement
        topology = self.inspection.topology
        if topology is None:
            raise CannotCheckError("the user's clusters are unknown")
        ec2 = self.aws.client("ec2")
        memorydb = self.aws.client("memorydb")
        subnet_cidrs = [
            s["CidrBlock"]
            for s in _call("DescribeSubnets", ec2.describe_subnets, SubnetIds=subnets)["Subnets"]
        ]
        function_sgs = _call(
            "DescribeSecurityGroups", ec2.describe_security_groups, GroupIds=function_groups
        )["SecurityGroups"]
        problems = []
        for cluster in topology.clusters:
            described = _call(
                "DescribeClusters", memorydb.describe_clusters, ClusterName=cluster.name
            )["Clusters"][0]
            cluster_groups = [g["SecurityGroupId"] for g in described.get("SecurityGroups", [])]
            if not cluster_groups:
                raise CannotCheckError(f"cluster {cluster.name} reports no security groups")
            cluster_sgs = _call(
                "DescribeSecurityGroups", ec2.describe_security_groups, GroupIds=cluster_groups
            )["SecurityGroups"]
            port = cluster.endpoint.port
            ingress = any(
                _admits(rule, port, function_groups, subnet_cidrs)
                for sg in cluster_sgs
                for rule in sg.get("IpPermissions", [])
            )
            cluster_cidrs = ["0.0.0.0/0"]  # egress to a group or to any address
            egress = any(
                _admits(rule, port, cluster_groups, cluster_cidrs, egress=True)
                for sg in function_sgs
                for rule in sg.get("IpPermissionsEgress", [])
            )
            if not ingress:
                problems.append(
                    f"cluster {cluster.name}'s security groups do not admit the function on {port}"
                )
            if not egress:
                problems.append(f"the function's security groups do not allow egress to {port}")
        if problems:
            return _fail(
                "; ".join(problems),
                "allow TCP on the cluster port from the function's security group in the "
                "cluster's security group (and egress from the function's)",
            )
        return _pass(f"security groups admit the function on {len(topology.clusters)} cluster(s)")

    def network_apis(self) -> Check:
        placement = self._vpc()
        if placement is None:
            return _pass("the function is outside a VPC: it reaches the public AWS APIs")
        _reported_vpc, subnets, _groups = placement
        ec2 = self.aws.client("ec2")
        region = self.aws.region
        # The VPC of the subnets the function's network interfaces are in, as EC2 says: the
        # endpoints and routes that count are that VPC's.
        described = _call("DescribeSubnets", ec2.describe_subnets, SubnetIds=subnets)["Subnets"]
        vpc_id = str(described[0]["VpcId"])
        endpoints = _call(
            "DescribeVpcEndpoints",
            ec2.describe_vpc_endpoints,
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
        )["VpcEndpoints"]
        private = {
            e["ServiceName"]
            for e in endpoints
            if e.get("VpcEndpointType") == "Interface"
            and e.get("PrivateDnsEnabled")
            and e.get("State", "available").lower() == "available"
        }
        wanted = {
            f"com.amazonaws.{region}.secretsmanager": "Secrets Manager",
            f"com.amazonaws.{region}.memory-db": "MemoryDB",
            f"com.amazonaws.{region}.memorydb": "MemoryDB",
        }
        needed = {"Secrets Manager", "MemoryDB"}
        if self._drop_target() is not None:
            wanted[f"com.amazonaws.{region}.scheduler"] = "EventBridge Scheduler"
            needed.add("EventBridge Scheduler")
        reached = {label for service, label in wanted.items() if service in private}
        if needed <= reached:
            return _pass("interface endpoints with private DNS for " + ", ".join(sorted(needed)))
        tables = _call(
            "DescribeRouteTables",
            ec2.describe_route_tables,
            Filters=[{"Name": "vpc-id", "Values": [vpc_id]}],
        )["RouteTables"]
        if all(_nat_route(_table_for(tables, subnet)) for subnet in subnets):
            return _pass("every subnet of the function routes 0.0.0.0/0 to a NAT gateway")
        missing = sorted(needed - reached)
        scheduler = (
            ", com.amazonaws.REGION.scheduler (drop-after)"
            if "EventBridge Scheduler" in needed
            else ""
        )
        return _fail(
            f"no interface endpoint for {', '.join(missing)} and no NAT route from every subnet",
            "create interface endpoints com.amazonaws.REGION.secretsmanager, the MemoryDB "
            f"API's{scheduler} (private DNS on) in the function's VPC, or route the subnets "
            "through a NAT gateway",
        )

    # -- permissions --------------------------------------------------------------------------

    def _simulate(
        self, actions: Iterable[str], resources: list[str], context: list[dict[str, Any]] | None
    ) -> list[str]:
        """The actions the role may NOT make on the resources (empty when all are allowed)."""
        role = self._role()
        iam = self.aws.client("iam")
        request: dict[str, Any] = {
            "PolicySourceArn": role,
            "ActionNames": list(actions),
            "ResourceArns": resources,
        }
        if context:
            request["ContextEntries"] = context
        denied: list[str] = []
        while True:
            page = _call("SimulatePrincipalPolicy", iam.simulate_principal_policy, **request)
            for result in page.get("EvaluationResults", []):
                if result.get("EvalDecision") != "allowed":
                    denied.append(
                        f"{result['EvalActionName']} on {result.get('EvalResourceName', '*')}"
                    )
            if not page.get("IsTruncated"):
                return denied
            request["Marker"] = page["Marker"]

    def _role(self) -> str:
        """The function's role, or the planned one before the function exists."""
        planned = self._plan()
        if planned is not None:
            if planned.role is None:
                raise NotDeployedError(f"{self.function_problem}; --role checks a planned role")
            self._uses_planned(f"role {planned.role.rsplit('/', 1)[-1]}")
            return planned.role
        role = self._function().role
        if not role:
            raise CannotCheckError("the function has no role")
        return role

    def role_permissions(self) -> Check:
        secret = self.inspection.secret
        user = self._user()
        if user is None:
            raise CannotCheckError("there is no such user")
        denied = self._simulate(SECRET_ACTIONS, [secret.arn], None)
        # TagResource and UntagResource touch the owner tag and the claim tags, and only those
        # keys (the template's condition): a claim key as the function names it.
        tag_keys = [
            {
                "ContextKeyName": "aws:TagKeys",
                "ContextKeyValues": [OWNER_TAG, f"{CLAIM_TAG_PREFIX}{0:020d}"],
                "ContextKeyType": "stringList",
            }
        ]
        denied += self._simulate(USER_ACTIONS, [user.arn], tag_keys)
        denied += self._schedule_permissions(user.arn.split(":")[4])
        topology = self.inspection.topology
        if topology is not None:
            prefix = user.arn.rsplit(":", 1)[0]
            resources = [f"{prefix}:acl/{acl}" for acl in topology.acls] + [
                f"{prefix}:cluster/{cluster.name}" for cluster in topology.clusters
            ]
            for resource in resources:
                denied += self._simulate(TOPOLOGY_ACTIONS, [resource], None)
        if denied:
            return _fail(
                "the role may not: " + "; ".join(denied),
                "deploy the template with this secret in SecretArns and the user in "
                "RotatableUsers (the role is scoped to both)",
            )
        return _pass("every call the function makes on this secret and user is allowed")

    def _drop_target(self) -> tuple[str, str] | None:
        """(schedule group, scheduler role) when the function runs drop-after, else None."""
        planned = self._plan()
        if planned is not None:
            if planned.policy is not None:
                self._uses_planned(f"policy {planned.policy}")
            planned_target: tuple[str, str] | None = planned.settings().schedule_target
            return planned_target
        try:
            target: tuple[str, str] | None = self._settings().schedule_target
        except RotationError as exc:
            raise CannotCheckError(f"the settings are invalid: {exc}") from None
        return target

    def _schedule_permissions(self, account: str) -> list[str]:
        target = self._drop_target()
        if target is None:
            return []
        group, scheduler_role = target
        schedule = (
            f"arn:aws:scheduler:{self.aws.region}:{account}:schedule/{group}/"
            f"{schedule_name('secret', 'token')}"
        )
        passed_to = [
            {
                "ContextKeyName": "iam:PassedToService",
                "ContextKeyValues": ["scheduler.amazonaws.com"],
                "ContextKeyType": "string",
            }
        ]
        return self._simulate(SCHEDULE_ACTIONS, [schedule], None) + self._simulate(
            PASS_ROLE_ACTIONS, [scheduler_role], passed_to
        )

    def kms_key(self) -> Check:
        key_id = self.inspection.secret.kms_key_id
        if not key_id or key_id == "alias/aws/secretsmanager":
            return _pass("the secret uses the AWS managed key (aws/secretsmanager)")
        kms = self.aws.client("kms")
        metadata = _call("DescribeKey", kms.describe_key, KeyId=key_id)["KeyMetadata"]
        if metadata.get("KeyManager") == "AWS":
            return _pass("the secret uses an AWS managed key")
        key_arn = metadata["Arn"]
        role = self._role()
        policy = json.loads(
            _call("GetKeyPolicy", kms.get_key_policy, KeyId=key_arn, PolicyName="default")["Policy"]
        )
        account = key_arn.split(":")[4]
        if not _key_policy_admits(policy, account, role):
            return _fail(
                "the key policy neither names the role nor lets the account's IAM policies grant "
                "access",
                f"add a statement allowing {role} kms:Decrypt and kms:GenerateDataKey, or the "
                f"account root (arn:aws:iam::{account}:root) kms:*",
            )
        # What Secrets Manager's own KMS requests carry: the service, and the secret's ARN as
        # encryption context (the template's condition names both).
        via = [
            {
                "ContextKeyName": "kms:ViaService",
                "ContextKeyValues": [f"secretsmanager.{self.aws.region}.amazonaws.com"],
                "ContextKeyType": "string",
            },
            {
                "ContextKeyName": "kms:EncryptionContext:SecretARN",
                "ContextKeyValues": [self.inspection.secret.arn],
                "ContextKeyType": "string",
            },
        ]
        denied = self._simulate(("kms:Decrypt", "kms:GenerateDataKey"), [key_arn], via)
        if denied:
            return _fail(
                "the role may not: " + "; ".join(denied),
                "deploy with KmsKeyArn set to the secret's key",
            )
        return _pass("the role may decrypt the customer-managed key through Secrets Manager")

    def resource_policy(self) -> Check:
        """secret_policy.py decides, as IAM would, who besides the rotation role may still
        write versions or change the policy (docs/secret-policy.md)."""
        from memorydb_rotation_cli.secret_policy import SecretPolicyError, check_secret_policy

        secret = self.inspection.secret
        role = self._function().role
        if not role:
            raise CannotCheckError("the function has no role to exempt")
        sm = self.aws.client("secretsmanager")
        response = _call("GetResourcePolicy", sm.get_resource_policy, SecretId=secret.arn)
        try:
            checked = check_secret_policy(
                response.get("ResourcePolicy"), role, secret_arn=secret.arn
            )
        except SecretPolicyError as exc:
            raise CannotCheckError(str(exc)) from None
        fix = (
            "attach the policy docs/secret-policy.md prints (only the rotation role writes "
            "versions; named administrators manage the secret) with aws secretsmanager "
            "put-resource-policy --block-public-policy"
        )
        if checked.problems:
            return _fail("; ".join(checked.problems), fix)
        others = ", ".join(checked.other_writers) or "no one else"
        return _pass(f"only the rotation role writes versions (also allowed: {others})")

    def failure_alarm(self) -> Check:
        function = self._function()
        cloudwatch = self.aws.client("cloudwatch")
        alarms = _call(
            "DescribeAlarmsForMetric",
            cloudwatch.describe_alarms_for_metric,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Dimensions=[{"Name": "FunctionName", "Value": function.name}],
        )["MetricAlarms"]
        # Each alarm's own Dimensions decide: an alarm on another function's Errors says nothing
        # about this one's, whatever filter the answer was given.
        mine = {"Name": "FunctionName", "Value": function.name}
        alarms = [a for a in alarms if a.get("Dimensions") == [mine]]
        alarms += _call(
            "DescribeAlarmsForMetric",
            cloudwatch.describe_alarms_for_metric,
            MetricName="StepFailed",
            Namespace="MemoryDBRotation",
        )["MetricAlarms"]
        live = [a["AlarmName"] for a in alarms if a.get("ActionsEnabled", True)]
        if not live:
            return _fail(
                "no alarm with actions on the function's Errors or StepFailed",
                "deploy the template (FunctionErrorsAlarm) or create a CloudWatch alarm on "
                "AWS/Lambda Errors for the function",
            )
        return _pass("alarms: " + ", ".join(live))


def _pass(detail: str) -> Check:
    return Check("", "", PASS, detail)


def _fail(detail: str, fix: str) -> Check:
    return Check("", "", FAIL, detail, fix)


def _admits(
    rule: dict[str, Any], port: int, groups: list[str], cidrs: list[str], *, egress: bool = False
) -> bool:
    protocol = str(rule.get("IpProtocol", ""))
    if protocol not in {"-1", "tcp", "6"}:
        return False
    if protocol != "-1" and not rule.get("FromPort", 0) <= port <= rule.get("ToPort", 65535):
        return False
    if any(pair.get("GroupId") in groups for pair in rule.get("UserIdGroupPairs", [])):
        return True
    for entry in rule.get("IpRanges", []):
        allowed = ipaddress.ip_network(entry["CidrIp"], strict=False)
        if egress and allowed.prefixlen == 0:
            return True
        if any(_within(ipaddress.ip_network(c, strict=False), allowed) for c in cidrs):
            return True
    return False


def _within(inner: Any, outer: Any) -> bool:
    return bool(inner.version == outer.version and inner.subnet_of(outer))


def _table_for(tables: list[dict[str, Any]], subnet: str) -> dict[str, Any] | None:
    main = None
    for table in tables:
        for association in table.get("Associations", []):
            if association.get("SubnetId") == subnet:
                return table
            if association.get("Main"):
                main = table
    return main


def _nat_route(table: dict[str, Any] | None) -> bool:
    if table is None:
        return False
    return any(
        route.get("DestinationCidrBlock") == "0.0.0.0/0" and route.get("NatGatewayId")
        for route in table.get("Routes", [])
    )


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _key_policy_admits(policy: dict[str, Any], account: str, role: str | None) -> bool:
    for statement in _statements(policy):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal", {})
        names = _listed(principal.get("AWS")) if isinstance(principal, dict) else _listed(principal)
        actions = _listed(statement.get("Action"))
        decrypts = any(a in {"kms:*", "*", "kms:Decrypt"} for a in actions)
        if not decrypts:
            continue
        if f"arn:aws:iam::{account}:root" in names or account in names or "*" in names:
            return True
        if role and role in names:
            return True
    return False


def run(
    inspector: Inspector,
    secret_id: str,
    *,
    function: str | None,
    verifier: Any = None,
    connect_timeout: float = 5.0,
    planned: Planned | None = None,
) -> dict[str, Any]:
    inspection = inspector.inspect(secret_id, function=False)
    doctor = Doctor(
        inspector,
        inspection,
        function,
        verifier=verifier,
        connect_timeout=connect_timeout,
        planned=planned,
    )
    checks = doctor.checks()
    summary = {kind: sum(1 for c in checks if c.result == kind) for kind in RESULTS}
    if summary[FAIL]:
        name, verdict = "fail", f"{summary[FAIL]} check(s) failed"
    elif summary[CANNOT]:
        name, verdict = "incomplete", f"{summary[CANNOT]} check(s) could not be made"
    elif summary[NOT_DEPLOYED]:
        name = "ready-to-deploy"
        against = (
            f" ({len(doctor.planned_checks)} on the planned deployment)"
            if doctor.planned_checks
            else ""
        )
        verdict = (
            f"every check that can run before deployment passed{against}; "
            f"{summary[NOT_DEPLOYED]} wait for the function"
        )
    else:
        name, verdict = "ok", "every check passed"
    code = VERDICTS[name]
    return {
        "command": "doctor",
        "secret": inspection.secret.arn,
        "function": inspector_function_arn(inspection, function),
        "checks": [c.to_json() for c in checks],
        "summary": summary,
        "verdict": {
            "code": name,
            "message": verdict,
            "next": (
                "deploy, then run memorydb-rotation doctor again"
                if name == "ready-to-deploy"
                else None
            ),
        },
        "exit_code": code,
    }


def inspector_function_arn(inspection: Inspection, function: str | None) -> str | None:
    return function or inspection.secret.function_arn
