"""The AWS side of the memory benchmark, in its own process so its memory is not counted.

    python -m bench.server --propagation-delay D

Starts a TLS redis-server (the data plane), applies the sandbox's strict MemoryDB and Secrets
Manager patches (passwords kept, `modifying` for D seconds after each update, the password set
pushed to redis-server when the user turns active) and serves moto over HTTP on loopback with
ThreadedMotoServer. Prints one JSON line with the endpoint, then answers JSON-line commands on a
loopback control port for what Secrets Manager itself does around a rotation (stage the empty
AWSPENDING version, remove it after finishSecret) and for the names of the AWS actions it served
since the last ask (`actions`). Passwords are never printed or sent over the control port.

    python -m bench.server --propagation-delay D --nodes 20

serves a hand-built topology instead (bench.node_topology): the user in one ACL whose one cluster
has 20 nodes, each a TLS redis-server, discovered through DescribeACLs and DescribeClusters.
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

USER = "bench-user"


def main(argv: list[str]) -> int:  # noqa: PLR0915 - one start-up sequence, read top to bottom
    parser = argparse.ArgumentParser()
    parser.add_argument("--propagation-delay", type=float, default=0.5)
    parser.add_argument(
        "--nodes", type=int, default=0, help="serve a hand-built cluster of this many nodes"
    )
    args = parser.parse_args(argv)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value

    import boto3
    from moto.memorydb.models import memorydb_backends
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    from bench.calllog import served_actions
    from bench.node_topology import FanOut, running_servers, served
    from sandbox.memorydb import DataPlane, FaithfulMemoryDB
    from sandbox.redis_server import free_port
    from sandbox.sandbox import ACCOUNT, LAMBDA_ARN, REGION, seed_rotatable_secret
    from sandbox.secretsmanager import StrictSecretsManager
    from sandbox.tls import make_tls_files

    with tempfile.TemporaryDirectory(prefix="bench-server-") as workdir, ExitStack() as stack:
        tls = make_tls_files(Path(workdir))
        nodes = stack.enter_context(running_servers(max(1, args.nodes), tls))
        data_plane: DataPlane = FanOut(nodes) if args.nodes else nodes[0]
        memorydb = FaithfulMemoryDB(data_plane, propagation_delay=args.propagation_delay)
        strict_sm = StrictSecretsManager(ACCOUNT, REGION)
        stack.enter_context(memorydb.patched())
        stack.enter_context(strict_sm.patched())
        actions = stack.enter_context(served_actions())
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
            # No sandbox ACL here: bench.node_topology puts the user in its own.
            acl=None,
        )
        if args.nodes:
            stack.enter_context(
                served(
                    memorydb_backends[ACCOUNT][REGION], USER, nodes, account=ACCOUNT, region=REGION
                )
            )
        strict_sm.enable_rotation(arn, LAMBDA_ARN)
        actions.clear()

        def handle(command: dict[str, Any]) -> Any:
            op = command.get("op")
            if op == "stage":
                strict_sm.stage_pending(arn, command["token"])
            elif op == "finish":
                strict_sm.finish_rotation(arn, command["token"])
            elif op == "settle":
                memorydb.settle()
            elif op == "actions":
                # Every action moto served since the last ask, any service, by name.
                served_actions = list(actions)
                actions.clear()
                return served_actions
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
                        "pid": os.getpid(),
                    }
                ),
                flush=True,
            )
            done.wait()
            control.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
