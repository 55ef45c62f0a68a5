"""The AWS side of the memory benchmark, in its own process so its memory is not counted.

    python -m bench.server --propagation-delay D [--nodes N [--servers K]]

The served sandbox (sandbox/server.py: moto over HTTP with the sandbox's faithful MemoryDB and
Secrets Manager, TLS redis-servers as the nodes) with one user and its secret. Prints one JSON
line with the endpoint, then answers JSON-line commands on a loopback control port for what
Secrets Manager itself does around a rotation (stage the empty AWSPENDING version, remove it after
finishSecret) and for the names of the AWS actions it served since the last ask (`actions`).
Passwords are never printed or sent over the control port.

With `--nodes N` the user sits in an ACL of its own whose one cluster DescribeClusters reports
with N nodes, served by K real TLS servers (default: one per node, at most 16); the function
discovers them through DescribeUsers -> DescribeACLs -> DescribeClusters like any other topology.
"""

from __future__ import annotations

import argparse
import json
import os
import socketserver
import sys
import threading
from contextlib import ExitStack
from typing import Any

USER = "bench-user"
ACL = "bench-acl"
CLUSTER = "bench-cluster"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--propagation-delay", type=float, default=0.5)
    parser.add_argument(
        "--nodes", type=int, default=0, help="a cluster of its own with this many described nodes"
    )
    parser.add_argument(
        "--servers", type=int, default=None, help="real servers behind the described nodes"
    )
    args = parser.parse_args(argv)

    from bench.calllog import served_actions
    from sandbox.sandbox import DEFAULT_ACL, Sandbox
    from sandbox.server import ServedSandbox

    with ExitStack() as stack:
        sandbox = stack.enter_context(Sandbox(propagation_delay=args.propagation_delay))
        served = stack.enter_context(ServedSandbox(sandbox))
        acl, described = DEFAULT_ACL, 1
        cluster = sandbox.cluster()
        if args.nodes > 0:
            sandbox.create_acl(ACL)
            cluster = served.create_described_cluster(
                CLUSTER, nodes=args.nodes, servers=args.servers, acl=ACL
            )
            acl, described = ACL, args.nodes
        password = sandbox.create_user(USER, acl=acl)
        host, port = cluster.endpoint
        arn = sandbox.create_secret(USER, password, host=host, port=port)
        actions = stack.enter_context(served_actions())

        def handle(command: dict[str, Any]) -> Any:
            op = command.get("op")
            if op == "stage":
                sandbox.stage_pending(arn, command["token"])
            elif op == "finish":
                sandbox.finish_rotation(arn, command["token"])
            elif op == "settle":
                sandbox.settle()
            elif op == "actions":
                # Every action moto served since the last ask, any service, by name.
                answered = list(actions)
                actions.clear()
                return answered
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
                        "endpoint": served.endpoint,
                        "control_port": control.server_address[1],
                        "secret_arn": arn,
                        "ca_bundle": str(served.ca_bundle),
                        "nodes": described,
                        "servers": len(cluster.nodes),
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
