"""The AWS side of the Lambda-size benchmark: moto over HTTP and a cluster of many TLS nodes.

    python -m bench.lambda_aws --nodes 1500 --servers 20

Like bench.server, in a process of its own (outside the function's CPU cgroup): the sandbox's
strict MemoryDB and Secrets Manager patches served by ThreadedMotoServer, the user in one ACL
whose one cluster has `--nodes` nodes (bench.node_topology's hand-built DescribeClusters).

Many nodes over fewer servers: `--servers` real TLS redis-servers hold the user, and
bench.delay_proxy (another process, no added delay) gives every node its own loopback port that
forwards to one of them, round robin. So each node is its own endpoint (its own TLS connection and
handshake, verified for `localhost` through the proxy, as on MemoryDB), while the machine runs 20
redis-servers instead of 1,500. The servers count the connections they accept (INFO stats
`total_connections_received`): the `connections` control op returns the sum, so a caller can
count the function's TLS handshakes.

Prints one JSON line (endpoint, control port, secret ARN, CA bundle), then answers JSON-line
control ops: `stage`, `finish` (what Secrets Manager does around the four steps), `connections`,
`quit`. Passwords are never printed or sent over the control port.
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import ROOT, function_env

USER = "bench-user"


class ProxyEndpoint:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port


def _fan_out_ports(upstreams: list[tuple[str, int]], stack: ExitStack) -> list[int]:
    """bench.delay_proxy with no delay: one listening port per entry of `upstreams`."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.delay_proxy",
            "--round-trip",
            "0",
            *(f"127.0.0.1:{port}" for _host, port in upstreams),
        ],
        cwd=ROOT,
        env=function_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def stop() -> None:
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()

    stack.callback(stop)
    line = process.stdout.readline() if process.stdout else ""
    if not line:
        raise RuntimeError("bench.delay_proxy exited before it was ready")
    ports: list[int] = json.loads(line)["ports"]
    return ports


def main(argv: list[str]) -> int:  # noqa: PLR0915 - one start-up sequence, read top to bottom
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--propagation-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )

    import boto3
    from moto.memorydb.models import memorydb_backends
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from bench.node_topology import FanOut, running_servers, served
    from sandbox.memorydb import FaithfulMemoryDB
    from sandbox.redis_server import free_port
    from sandbox.sandbox import ACCOUNT, LAMBDA_ARN, REGION, seed_rotatable_secret
    from sandbox.secretsmanager import StrictSecretsManager
    from sandbox.tls import make_tls_files

    with tempfile.TemporaryDirectory(prefix="bench-lambda-aws-") as workdir, ExitStack() as stack:
        tls = make_tls_files(Path(workdir))
        servers = stack.enter_context(running_servers(max(1, min(args.servers, args.nodes)), tls))
        upstreams = [(s.host, s.port) for s in servers]
        ports = _fan_out_ports([upstreams[i % len(upstreams)] for i in range(args.nodes)], stack)
        nodes = [ProxyEndpoint("localhost", port) for port in ports]
        memorydb = FaithfulMemoryDB(FanOut(servers), propagation_delay=args.propagation_delay)
        strict_sm = StrictSecretsManager(ACCOUNT, REGION)
        stack.enter_context(memorydb.patched())
        stack.enter_context(strict_sm.patched())
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        stack.callback(server.stop)
        endpoint = f"http://127.0.0.1:{port}"
        mdb = boto3.client("memorydb", region_name=REGION, endpoint_url=endpoint)
        sm = boto3.client("secretsmanager", region_name=REGION, endpoint_url=endpoint)
        arn, _password = seed_rotatable_secret(
            mdb,
            sm,
            USER,
            name=f"memorydb/{USER}",
            host=nodes[0].host,
            port=nodes[0].port,
            ssl=True,
            acl=None,
        )
        stack.enter_context(
            served(
                memorydb_backends[ACCOUNT][REGION],
                USER,
                nodes,  # type: ignore[arg-type]
                account=ACCOUNT,
                region=REGION,
            )
        )
        strict_sm.enable_rotation(arn, LAMBDA_ARN)

        def connections() -> int:
            return sum(int(s.admin.info("stats")["total_connections_received"]) for s in servers)

        def handle(command: dict[str, Any]) -> Any:
            op = command.get("op")
            if op == "stage":
                strict_sm.stage_pending(arn, command["token"])
            elif op == "finish":
                strict_sm.finish_rotation(arn, command["token"])
            elif op == "connections":
                return {"connections": connections()}
            elif op != "quit":
                return {"error": f"unknown op {op!r}"}
            return {"ok": True}

        done = threading.Event()

        class Control(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for raw in self.rfile:
                    command = json.loads(raw)
                    reply = handle(command)
                    self.wfile.write(json.dumps(reply).encode() + b"\n")
                    self.wfile.flush()
                    if command.get("op") == "quit":
                        done.set()
                        return

        with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Control) as control:
            threading.Thread(target=control.serve_forever, daemon=True).start()
            print(
                json.dumps(
                    {
                        "endpoint": endpoint,
                        "control_port": control.server_address[1],
                        "secret_arn": arn,
                        "ca_bundle": str(tls.ca_cert),
                        "nodes": len(nodes),
                        "servers": len(servers),
                    }
                ),
                flush=True,
            )
            done.wait()
            control.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
