"""The sandbox served over HTTP, for programs that talk to AWS the ordinary way (the CLI).

    python -m sandbox.server [--seed | --seed-broken WHAT[,WHAT]] [--propagation-delay D]

Runs moto as a server (ThreadedMotoServer) with the sandbox's faithful MemoryDB and Secrets
Manager patches and a TLS redis-server as the data plane, and adds what Secrets Manager and Lambda
do around a rotation that moto cannot (its Lambda backend needs Docker):

- `RotateSecret` stages the empty AWSPENDING version (refused while an earlier rotation's stands),
  answers at once, and runs the rotation function's four steps in the background as the service
  does (RotationDriver: ARN events, each step retried with the same token, AWSPENDING removed on
  success). The function runs in this process, with the environment of the function registered in
  moto's Lambda backend (so a misconfigured function misbehaves as deployed), its boto3 clients
  pointed back at this server.
- `iam:SimulatePrincipalPolicy` is answered from the role's policies (sandbox/iam_simulation.py).
- The function's log lines go to moto's CloudWatch Logs, in the function's log group, one stream
  per invocation, as Lambda does with its stdout; `FilterLogEvents` finds them.

Two options serve the load run and the benchmarks, so neither builds a moto server of its own:

- `throttle=Throttle(share, seed)`: while `served.throttle.enabled`, a seeded share of API calls
  is answered with HTTP 400 ThrottlingException, as an overloaded API answers;
- `create_described_cluster(name, nodes=N, servers=K)`: DescribeClusters names N nodes whose
  endpoints are K real servers, round robin (a 1,500-node cluster costs K processes). Each
  described node is its own name to prove on, and the K servers get the user's password set as
  every sandbox node does. With `own_endpoints=True` every described node is also its own
  endpoint: a loopback port of its own (Forwarder) that passes bytes unchanged to its server, so
  the function opens one TLS connection per node, as on MemoryDB, and the certificate still
  verifies for the node host name.

Printed on start: one JSON line on stdout (the endpoint, the CA bundle that verifies the nodes, the
pid; with --seed the secret's and the function's ARNs) and, on stderr, the `export` line that points
the CLI at it. Passwords are never printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import random
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sandbox import iam_simulation
from sandbox.driver import RotationDriver
from sandbox.redis_server import SLOTS, free_port
from sandbox.sandbox import (
    ACCOUNT,
    DEFAULT_ACL,
    FAST_WAITS,
    REGION,
    EnvironmentChanges,
    Sandbox,
    new_password,
)
from sandbox.secretsmanager import StrictSecretsManager
from sandbox.tls import NODE_HOST
from sandbox.topology import ClusterHandle

if TYPE_CHECKING:
    from moto.memorydb.models import MemoryDBCluster
    from moto.secretsmanager.models import SecretsManagerBackend

FUNCTION = "memorydb-rotation"
SEEDED_USER = "app-user"
ROLE = "memorydb-rotation-role"
_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


# A described cluster's shards are a primary and one replica, as MemoryDB's default layout.
DESCRIBED_NODES_PER_SHARD = 2


@dataclass(frozen=True)
class Throttle:
    """A seeded `share` (0 to 1) of API calls answered with ThrottlingException."""

    share: float
    seed: int = 20261124


class ThrottlingMiddleware:
    """Answers a seeded share of API calls with ThrottlingException while `enabled`, as an
    overloaded API does; counts the calls it saw and the ones it throttled."""

    def __init__(self, app: Any, throttle: Throttle) -> None:
        self._app = app
        self.share = throttle.share
        self.enabled = False
        self._random = random.Random(throttle.seed)
        self._lock = threading.Lock()
        self.requests = 0
        self.throttled = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        # Only the JSON-protocol APIs (Secrets Manager, MemoryDB) carry X-Amz-Target.
        if self.enabled and environ.get("HTTP_X_AMZ_TARGET"):
            with self._lock:
                self.requests += 1
                throttle = self._random.random() < self.share
                self.throttled += throttle
            if throttle:
                body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
                start_response(
                    "400 Bad Request",
                    [
                        ("Content-Type", "application/x-amz-json-1.1"),
                        ("Content-Length", str(len(body))),
                        ("x-amzn-RequestId", str(uuid.uuid4())),
                    ],
                )
                return [body]
        return self._app(environ, start_response)


def described_shards(
    real: list[dict[str, Any]],
    nodes: int,
    cluster: str,
    endpoints: Sequence[tuple[str, int]] | None = None,
) -> list[dict[str, Any]]:
    """`nodes` node descriptions in shards of DESCRIBED_NODES_PER_SHARD, named as MemoryDB names
    them, whose endpoints cycle over the `real` nodes' descriptions (or are `endpoints`, one per
    described node)."""
    if endpoints is not None and len(endpoints) != nodes:
        raise ValueError("one endpoint per described node")
    count = -(-nodes // DESCRIBED_NODES_PER_SHARD)
    per_shard = SLOTS // count
    shards = []
    for s in range(count):
        members = range(
            s * DESCRIBED_NODES_PER_SHARD, min(nodes, (s + 1) * DESCRIBED_NODES_PER_SHARD)
        )
        shard = f"{s + 1:04d}"
        last = SLOTS - 1 if s == count - 1 else (s + 1) * per_shard - 1
        shards.append(
            {
                "Name": shard,
                "Status": "available",
                "Slots": f"{s * per_shard}-{last}",
                "Nodes": [
                    real[i % len(real)]
                    | {"Name": f"{cluster}-{shard}-{n + 1:03d}"}
                    | (
                        {}
                        if endpoints is None
                        else {"Endpoint": {"Address": endpoints[i][0], "Port": endpoints[i][1]}}
                    )
                    for n, i in enumerate(members)
                ],
                "NumberOfNodes": len(members),
            }
        )
    return shards


class Forwarder:
    """Loopback ports that each pass TCP bytes, unchanged and at once, to one upstream address.

    One event loop in a daemon thread serves every port; `accepted(port)` counts the connections
    a port has taken, so a caller can tell connections per described node apart even where many
    nodes share one real server."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sandbox-forwarder", daemon=True
        )
        self._servers: list[asyncio.Server] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._accepted: dict[int, int] = {}
        self._thread.start()

    def listen(self, upstreams: Sequence[tuple[str, int]]) -> list[int]:
        """One new listening port on 127.0.0.1 per upstream, in the order given."""
        future = asyncio.run_coroutine_threadsafe(self._listen(upstreams), self._loop)
        return future.result(timeout=60)

    def accepted(self, port: int) -> int:
        return self._accepted[port]

    def close(self) -> None:
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()

    async def _listen(self, upstreams: Sequence[tuple[str, int]]) -> list[int]:
        ports = []
        for host, port in upstreams:
            server = await asyncio.start_server(self._handler(host, port), "127.0.0.1", 0)
            self._servers.append(server)
            listening: int = server.sockets[0].getsockname()[1]
            self._accepted[listening] = 0
            ports.append(listening)
        return ports

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    def _handler(
        self, host: str, port: int
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            listening = writer.get_extra_info("sockname")[1]
            self._accepted[listening] += 1
            # Tracked so that close() can end connections still open (a handler runs in a task).
            task = asyncio.current_task()
            tracked = {task} if task is not None else set()
            self._connections |= tracked
            try:
                await self._forward(reader, writer, host, port)
            finally:
                self._connections -= tracked

        return serve

    async def _forward(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, port: int
    ) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        except OSError:
            # The server is down: the client sees the connection close, as a stopped node's would.
            writer.close()
            return
        try:
            await asyncio.gather(_copy(reader, upstream_writer), _copy(upstream_reader, writer))
        finally:
            writer.close()
            upstream_writer.close()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        # Either side's end ends the other: TLS has no use for a half-closed connection.
        writer.close()


@dataclass(frozen=True)
class _Described:
    nodes: int
    endpoints: tuple[tuple[str, int], ...] | None


class ServedSandbox:
    """A started Sandbox, also served over HTTP on loopback (the same moto backends)."""

    def __init__(
        self, sandbox: Sandbox, *, step_attempts: int = 2, throttle: Throttle | None = None
    ) -> None:
        self.sandbox = sandbox
        self.step_attempts = step_attempts
        self._throttle = throttle or Throttle(0.0)
        self.throttle: ThrottlingMiddleware
        """Off until `throttle.enabled = True`; its `requests` and `throttled` count calls."""
        self._stack = ExitStack()
        self._env = EnvironmentChanges()
        self._rotations: list[threading.Thread] = []
        self._run_lock = threading.Lock()
        self._described: dict[str, _Described] = {}
        self._forwarder: Forwarder | None = None
        self.endpoint = ""

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> ServedSandbox:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self._stack.callback(self._patch_rotate_secret())
        self._stack.callback(self._patch_described_clusters())
        self._stack.enter_context(iam_simulation.patched())
        port = free_port()
        # werkzeug prints a line per request at INFO (an ERROR per throttled one): the
        # function's own log is what matters.
        werkzeug = logging.getLogger("werkzeug")
        self._stack.callback(werkzeug.setLevel, werkzeug.level)
        werkzeug.setLevel(logging.ERROR)
        self.throttle = ThrottlingMiddleware(
            DomainDispatcherApplication(create_backend_app), self._throttle
        )
        server = _MiddlewareMotoServer(port, self.throttle)
        server.start()
        self._stack.callback(server.stop)
        self.endpoint = f"http://127.0.0.1:{port}"
        # Every client built from here on (the CLI's, the function's) talks to this server; the
        # in-process mock lets requests to it through.
        self._env.set(AWS_ENDPOINT_URL=self.endpoint)
        self._stack.callback(self.wait_idle)

    def stop(self) -> None:
        self._stack.close()
        # After wait_idle (in the stack): a rotation still running keeps its connections.
        if self._forwarder is not None:
            self._forwarder.close()
            self._forwarder = None
        self._env.restore()

    @property
    def ca_bundle(self) -> Path:
        files = self.sandbox.tls_files
        if files is None:
            raise RuntimeError("the sandbox runs without TLS")
        return files.ca_cert

    @property
    def secretsmanager(self) -> StrictSecretsManager:
        return self.sandbox.secretsmanager

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,  # type: ignore[call-overload]
            region_name=REGION,
            endpoint_url=self.endpoint,
        )

    # -- the function, as deployed --------------------------------------------------------------

    def deploy_function(
        self,
        name: str = FUNCTION,
        *,
        environment: dict[str, str] | None = None,
        timeout: int = 900,
        vpc: dict[str, list[str]] | None = None,
        role: str = ROLE,
    ) -> str:
        """The rotation function registered in moto's Lambda (its configuration is what the CLI
        reads and what the rotations here run with); returns its ARN."""
        iam = self.client("iam")
        try:
            role_arn = iam.get_role(RoleName=role)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            trust = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
            role_arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))[
                "Role"
            ]["Arn"]
        variables = {"CA_BUNDLE_PATH": str(self.ca_bundle), **FAST_WAITS}
        variables.update(environment or {})
        request: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": "python3.13",
            "Role": role_arn,
            "Handler": "rotation.handler.lambda_handler",
            "Code": {"ZipFile": _placeholder_zip()},
            "Timeout": timeout,
            "MemorySize": 128,
            "Environment": {"Variables": variables},
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": f"/aws/lambda/{name}"},
        }
        if vpc is not None:
            request["VpcConfig"] = vpc
        arn: str = self.client("lambda").create_function(**request)["FunctionArn"]
        return arn

    # -- clusters described wider than they are -----------------------------------------------

    def create_described_cluster(
        self,
        name: str,
        *,
        nodes: int,
        servers: int | None = None,
        acl: str = DEFAULT_ACL,
        own_endpoints: bool = False,
    ) -> ClusterHandle:
        """A TLS cluster in `acl` that DescribeClusters reports with `nodes` nodes, served by
        `servers` real servers (default: one per node, at most 16) in round robin. Returns the
        real cluster (its `nodes` are the servers).

        `own_endpoints`: each described node is reported at a loopback port of its own that
        forwards to its server (`described_endpoints` lists them in described order), so N
        described nodes are N endpoints; otherwise they share their servers' endpoints."""
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        real = min(nodes, servers or 16)
        if real < 1:
            raise ValueError("a described cluster needs at least one real server")
        handle = self.sandbox.create_cluster(name, shards=real, acl=acl)
        endpoints = None
        if own_endpoints:
            # The nodes' servers listen on 127.0.0.1; a restarted node keeps its port.
            upstreams = [("127.0.0.1", handle.nodes[i % real].port) for i in range(nodes)]
            endpoints = tuple((NODE_HOST, port) for port in self._forwarding().listen(upstreams))
        self._described[name] = _Described(nodes, endpoints)
        return handle

    def described_endpoints(self, name: str) -> list[tuple[str, int]]:
        """The endpoints of a cluster made with `own_endpoints`, one per described node."""
        described = self._described.get(name)
        if described is None or described.endpoints is None:
            raise ValueError(f"{name!r} is not a described cluster with endpoints of its own")
        return list(described.endpoints)

    def connections_accepted(self, endpoint: tuple[str, int]) -> int:
        """The connections a described node's own endpoint has taken so far."""
        if self._forwarder is None:
            raise ValueError("no described cluster has endpoints of its own")
        return self._forwarder.accepted(endpoint[1])

    def _forwarding(self) -> Forwarder:
        if self._forwarder is None:
            self._forwarder = Forwarder()
        return self._forwarder

    def _patch_described_clusters(self) -> Callable[[], None]:
        topology = self.sandbox.topology
        original = topology.cluster_dict
        described = self._described

        def cluster_dict(cluster: MemoryDBCluster, *, shards: bool) -> dict[str, Any]:
            description = original(cluster, shards=shards)
            wide = described.get(cluster.cluster_name)
            if wide is None:
                return description
            description["NumberOfShards"] = -(-wide.nodes // DESCRIBED_NODES_PER_SHARD)
            description["AvailabilityMode"] = "MultiAZ" if wide.nodes > 1 else "SingleAZ"
            if shards:
                real = [node for shard in description["Shards"] for node in shard["Nodes"]]
                description["Shards"] = described_shards(
                    real, wide.nodes, cluster.cluster_name, wide.endpoints
                )
            return description

        # The sandbox's own topology answers DescribeClusters; only its description of these
        # clusters widens (moto is not patched a second time).
        topology.cluster_dict = cluster_dict  # type: ignore[method-assign]

        def restore() -> None:
            del topology.cluster_dict

        return restore

    def enable_rotation(self, secret_arn: str, function_arn: str, days: int = 30) -> None:
        self.sandbox.secretsmanager.enable_rotation(secret_arn, function_arn, days)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until every rotation started by RotateSecret has ended (bounded)."""
        deadline = time.monotonic() + timeout
        for thread in list(self._rotations):
            thread.join(max(0.0, deadline - time.monotonic()))
        self._rotations = [t for t in self._rotations if t.is_alive()]

    # -- what Secrets Manager and Lambda do -----------------------------------------------------

    def _patch_rotate_secret(self) -> Any:
        from moto.secretsmanager.exceptions import (
            InvalidRequestException,
            ResourceNotFoundException,
            SecretNotFoundException,
        )
        from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend

        original = SecretsManagerBackend.rotate_secret
        served = self

        def rotate_secret(
            backend: SecretsManagerBackend,
            secret_id: str,
            client_request_token: str | None = None,
            rotation_lambda_arn: str | None = None,
            rotation_rules: dict[str, Any] | None = None,
            rotate_immediately: bool = True,
        ) -> str:
            if not backend._is_valid_identifier(secret_id):
                raise SecretNotFoundException()
            secret = backend.secrets[secret_id]
            if not isinstance(secret, FakeSecret):
                raise InvalidRequestException("a replica secret cannot be rotated")
            function_arn = rotation_lambda_arn or secret.rotation_lambda_arn
            if not function_arn:
                raise InvalidRequestException(
                    "No Lambda rotation function ARN is associated with this secret."
                )
            function = served._function(function_arn)
            if function is None:
                raise ResourceNotFoundException(f"Resource not found for ARN '{function_arn}'.")
            token = client_request_token or str(uuid.uuid4())
            served.secretsmanager.stage_pending(
                secret.arn, token, copy_current=not rotate_immediately
            )
            days = (rotation_rules or {}).get("AutomaticallyAfterDays")
            served.secretsmanager.enable_rotation(
                secret.arn, function_arn, int(days or secret.auto_rotate_after_days or 30)
            )
            thread = threading.Thread(
                target=served._rotate,
                args=(secret.arn, token, function, rotate_immediately),
                daemon=True,
            )
            served._rotations.append(thread)
            thread.start()
            return json.dumps({"ARN": secret.arn, "Name": secret.name, "VersionId": token})

        SecretsManagerBackend.rotate_secret = rotate_secret  # type: ignore[method-assign,assignment]

        def restore() -> None:
            SecretsManagerBackend.rotate_secret = original  # type: ignore[method-assign]

        return restore

    def _function(self, arn: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            config: dict[str, Any] = self.client("lambda").get_function_configuration(
                FunctionName=arn
            )
        except ClientError:
            return None
        return config

    def _rotate(
        self, secret_arn: str, token: str, function: dict[str, Any], rotate_immediately: bool
    ) -> None:
        from rotation.handler import lambda_handler
        from rotation.observability import metrics
        from rotation.settings import ENV_VARS

        with self._run_lock:
            variables = (function.get("Environment") or {}).get("Variables") or {}
            self._env.set(**{name: variables.get(name) for name in ENV_VARS})
            # EMF metrics are printed to stdout, which in this process may be a CLI's.
            self._env.set(POWERTOOLS_METRICS_DISABLED="true")
            _reset_function()
            log_group = (function.get("LoggingConfig") or {}).get("LogGroup") or (
                f"/aws/lambda/{function['FunctionName']}"
            )

            def handler(event: dict[str, Any], context: Any) -> Any:
                try:
                    return lambda_handler(event, context)
                finally:
                    # With output disabled Powertools does not clear them after an invocation.
                    metrics.clear_metrics()

            with _LogsToCloudWatch(log_group):
                driver = RotationDriver(
                    handler,
                    stage_pending=lambda _arn, _token, _copy: None,
                    finish_rotation=self.secretsmanager.finish_rotation,
                    step_attempts=self.step_attempts,
                    timeout_seconds=float(function.get("Timeout", 900)),
                )
                driver.rotate(secret_arn, token=token, rotate_immediately=rotate_immediately)


class _MiddlewareMotoServer:
    """moto's ThreadedMotoServer, its WSGI app wrapped in `app` (the throttling middleware)."""

    def __init__(self, port: int, app: Any) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        class Server(ThreadedMotoServer):
            def _server_entry(self) -> None:
                self._server = make_server(
                    self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
                )
                self._server_ready_event.set()
                self._server.serve_forever()

        self._server = Server(ip_address="127.0.0.1", port=port, verbose=False)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()


# What `seed_deployment` can leave out, each the omission a newcomer's deployment might have;
# `doctor` names the check each one fails.
BREAKABLE = frozenset({"role-policy", "network", "password", "resource-policy", "alarm"})


def rotation_role_policy(secret_arn: str, user_arn: str) -> dict[str, Any]:
    """The rotation role's inline policy as template.yaml grants it for one secret and one user
    (tests/cli/test_served_seed.py compares the two, statement by statement)."""
    prefix = user_arn.rsplit(":", 1)[0]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadAndStageTheGivenSecrets",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                "Resource": [secret_arn],
            },
            {
                "Sid": "ReadAndUpdateTheAllowedUsers",
                "Effect": "Allow",
                "Action": [
                    "memorydb:DescribeUsers",
                    "memorydb:UpdateUser",
                    "memorydb:ListTags",
                    "memorydb:TagResource",
                    "memorydb:UntagResource",
                ],
                "Condition": {
                    "ForAllValues:StringLike": {
                        "aws:TagKeys": ["memorydb-rotation:secret", "memorydb-rotation:claim:*"]
                    }
                },
                "Resource": [user_arn],
            },
            {
                "Sid": "DiscoverTheUsersClustersAndNodes",
                "Effect": "Allow",
                "Action": ["memorydb:DescribeAcls", "memorydb:DescribeClusters"],
                "Resource": [f"{prefix}:acl/*", f"{prefix}:cluster/*"],
            },
        ],
    }


def seed_deployment(
    served: ServedSandbox,
    *,
    user: str = SEEDED_USER,
    function: str = FUNCTION,
    broken: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """A deployment as the template and docs/deploy.md make it, so `doctor` passes on it: the
    user in an ACL of its own on a cluster of its own, the function in a VPC subnet whose
    security group the cluster's admits on its port, interface
    endpoints (private DNS) for Secrets Manager and MemoryDB, the role's policy, the secret's
    resource policy, an alarm on the function's errors; then the user, its secret, rotation on.
    Each name in `broken` (BREAKABLE) leaves one of those out. Returns the ARNs."""
    from memorydb_rotation_cli.secret_policy import recommended_policy

    unknown = broken - BREAKABLE
    if unknown:
        raise ValueError(f"cannot break {sorted(unknown)}; choose from {sorted(BREAKABLE)}")
    ec2 = served.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]

    def group(name: str) -> str:
        created = ec2.create_security_group(
            GroupName=f"{function}-{name}", Description=f"{function} {name}", VpcId=vpc
        )
        return str(created["GroupId"])

    function_group, cluster_group = group("function"), group("cluster")
    # The user's own ACL and cluster, created with its security group as a deployment's is.
    acl, cluster = f"{function}-acl", f"{function}-cluster"
    password = served.sandbox.create_user(user, acl=None)
    served.sandbox.create_acl(acl, [user])
    served.sandbox.memorydb_client.create_cluster(
        ClusterName=cluster,
        NodeType="db.t4g.small",
        ACLName=acl,
        NumShards=1,
        NumReplicasPerShard=0,
        TLSEnabled=served.sandbox.tls_enabled,
        SecurityGroupIds=[cluster_group],
    )
    host, port = served.sandbox.cluster(cluster).endpoint
    if "network" not in broken:
        ec2.authorize_security_group_ingress(
            GroupId=cluster_group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "UserIdGroupPairs": [{"GroupId": function_group}],
                }
            ],
        )
        for service in ("secretsmanager", "memory-db"):
            ec2.create_vpc_endpoint(
                VpcId=vpc,
                ServiceName=f"com.amazonaws.{REGION}.{service}",
                VpcEndpointType="Interface",
                SubnetIds=[subnet],
                SecurityGroupIds=[function_group],
                PrivateDnsEnabled=True,
            )

    role = f"{function}-role"
    function_arn = served.deploy_function(
        function, role=role, vpc={"SubnetIds": [subnet], "SecurityGroupIds": [function_group]}
    )
    stored = password if "password" not in broken else new_password()
    secret_arn = served.sandbox.create_secret(user, stored, rotation=False, host=host, port=port)
    served.enable_rotation(secret_arn, function_arn)
    role_arn = served.client("iam").get_role(RoleName=role)["Role"]["Arn"]
    if "role-policy" not in broken:
        served.client("iam").put_role_policy(
            RoleName=role,
            PolicyName="rotate-memorydb-secrets",
            PolicyDocument=json.dumps(
                rotation_role_policy(secret_arn, served.sandbox.user_arn(user))
            ),
        )
    if "resource-policy" not in broken:
        served.client("secretsmanager").put_resource_policy(
            SecretId=secret_arn,
            ResourcePolicy=json.dumps(recommended_policy(role_arn, [])),
        )
    if "alarm" not in broken:
        topic = served.client("sns").create_topic(Name=f"{function}-alarms")["TopicArn"]
        served.client("cloudwatch").put_metric_alarm(
            AlarmName=f"{function}-errors",
            Namespace="AWS/Lambda",
            MetricName="Errors",
            Dimensions=[{"Name": "FunctionName", "Value": function}],
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            ActionsEnabled=True,
            AlarmActions=[topic],
        )
    return {"secret": secret_arn, "function": function_arn}


class _LogsToCloudWatch(logging.Handler):
    """The function's log records, formatted as the function formats them, into moto's Logs."""

    def __init__(self, log_group: str) -> None:
        super().__init__()
        from rotation.observability import logger

        self._logger = logger
        self._group = log_group
        self._replaced: list[logging.Handler] = []
        self._stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.setFormatter(logger.registered_formatter)

    def __enter__(self) -> _LogsToCloudWatch:
        backend = _logs_backend()
        if self._group not in backend.groups:
            backend.create_log_group(self._group, tags={})
        backend.create_log_stream(self._group, self._stream)
        # As on Lambda, the function's log lines go to its log group and nowhere else (its
        # stdout handler would write into whatever stdout this process has at the moment, e.g.
        # a CLI's under test).
        std_logger = self._logger._logger
        self._replaced = list(std_logger.handlers)
        for handler in self._replaced:
            std_logger.removeHandler(handler)
        std_logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        std_logger = self._logger._logger
        std_logger.removeHandler(self)
        for handler in self._replaced:
            std_logger.addHandler(handler)

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        event = {"timestamp": int(record.created * 1000), "message": line}
        _logs_backend().put_log_events(self._group, self._stream, [event])


def _logs_backend() -> Any:
    from moto.logs.models import logs_backends

    return logs_backends[ACCOUNT][REGION]


def _placeholder_zip() -> bytes:
    """moto keeps the code but never runs it here: the function runs in this process."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README", "the sandbox runs rotation.handler in its own process\n")
    return buffer.getvalue()


def _reset_function() -> None:
    from rotation.composition import service

    service.cache_clear()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.server")
    parser.add_argument("--propagation-delay", type=float, default=0.05)
    parser.add_argument(
        "--seed",
        action="store_true",
        help="also create a deployment doctor passes: user app-user, its secret, the rotation "
        "function attached to it in a VPC, its role's policy, the secret's resource policy, an "
        "alarm",
    )
    parser.add_argument(
        "--seed-broken",
        metavar="WHAT[,WHAT]",
        help="seed, leaving out " + ", ".join(sorted(BREAKABLE)) + " (doctor names each)",
    )
    args = parser.parse_args(argv)
    with (
        Sandbox(propagation_delay=args.propagation_delay) as sandbox,
        ServedSandbox(sandbox) as served,
    ):
        started: dict[str, Any] = {
            "endpoint": served.endpoint,
            "ca_bundle": str(served.ca_bundle),
            "pid": os.getpid(),
        }
        if args.seed or args.seed_broken:
            broken = frozenset(filter(None, (args.seed_broken or "").split(",")))
            started.update(seed_deployment(served, broken=broken))
        print(json.dumps(started), flush=True)
        print(
            # boto3 and the AWS CLI read AWS_DEFAULT_REGION; AWS_REGION is what Lambda sets.
            f"export AWS_ENDPOINT_URL={served.endpoint} AWS_REGION={REGION} "
            f"AWS_DEFAULT_REGION={REGION} "
            "AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
            f"MEMORYDB_ROTATION_CA_BUNDLE={served.ca_bundle}",
            file=sys.stderr,
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
