"""The AWS side of the Lambda-size benchmark: the served sandbox and a cluster of many TLS nodes.

    python -m bench.lambda_aws --nodes 1500 --servers 20

Like bench.server, in a process of its own (outside the function's CPU cgroup): sandbox.server's
ServedSandbox (the sandbox's faithful MemoryDB and Secrets Manager, served over HTTP), the user in
one ACL whose one cluster DescribeClusters reports with `--nodes` nodes.

Many nodes over fewer servers: `--servers` real TLS redis-servers hold the user, and the described
cluster's `own_endpoints` gives every node its own loopback port that forwards, unchanged, to one
of them, round robin. So each node is its own endpoint (its own TLS connection and handshake,
verified for the node host name through the forwarder, as on MemoryDB), while the machine runs 20
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
import socketserver
import sys
import threading
from typing import Any

USER = "bench-user"
ACL = "bench-acl"
CLUSTER = "bench-cluster"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--servers", type=int, default=20)
    parser.add_argument("--propagation-delay", type=float, default=0.0)
    args = parser.parse_args(argv)

    from sandbox.sandbox import Sandbox
    from sandbox.server import ServedSandbox

    with (
        Sandbox(propagation_delay=args.propagation_delay) as sandbox,
        ServedSandbox(sandbox) as served,
    ):
        sandbox.create_acl(ACL)
        handle = served.create_described_cluster(
            CLUSTER, nodes=args.nodes, servers=max(1, args.servers), acl=ACL, own_endpoints=True
        )
        password = sandbox.create_user(USER, acl=ACL)
        host, port = served.described_endpoints(CLUSTER)[0]
        arn = sandbox.create_secret(USER, password, host=host, port=port)
        sandbox.settle()
        servers = [node.server for node in handle.nodes]

        def connections() -> int:
            return sum(int(s.admin.info("stats")["total_connections_received"]) for s in servers)

        def handle_op(command: dict[str, Any]) -> Any:
            op = command.get("op")
            if op == "stage":
                sandbox.stage_pending(arn, command["token"])
            elif op == "finish":
                sandbox.finish_rotation(arn, command["token"])
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
                    reply = handle_op(command)
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
                        "nodes": args.nodes,
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
