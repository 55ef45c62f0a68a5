"""Memory: peak RSS of a process that runs one full rotation against moto in another process."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import ROOT, Figure, function_env

TARGET_MB = 100.0
# moto accepts any credentials; these only keep botocore from looking for real ones.
FAKE_CREDENTIALS = dict.fromkeys(
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"), "testing"
)
_BASELINE = (
    "import json, resource, sys\n"
    "import boto3\n"
    "print(json.dumps({'maxrss_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))\n"
)


class RemoteAws:
    """bench.server in a subprocess: the served sandbox with one user and its secret."""

    def __init__(
        self, propagation_delay: float, *, nodes: int = 0, servers: int | None = None
    ) -> None:
        """`nodes` > 0: a cluster of its own with that many described nodes, over `servers`
        real ones (bench.server)."""
        self._delay = propagation_delay
        self._nodes = nodes
        self._servers = servers
        self._process: subprocess.Popen[str] | None = None
        # werkzeug's request log and any start-up error; closed in __exit__.
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.info: dict[str, Any] = {}

    def __enter__(self) -> RemoteAws:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.server",
                "--propagation-delay",
                str(self._delay),
                "--nodes",
                str(self._nodes),
                *(["--servers", str(self._servers)] if self._servers else []),
            ],
            cwd=ROOT,
            env=function_env(),
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        line = self._process.stdout.readline() if self._process.stdout else ""
        if not line:
            self._process.wait(timeout=10)
            self._log.seek(0)
            raise RuntimeError(
                "bench.server exited before it was ready:\n" + self._log.read()[-2000:]
            )
        self.info = json.loads(line)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is None:
            return
        try:
            import socket

            with socket.create_connection(("127.0.0.1", self.info["control_port"]), 5) as sock:
                sock.sendall(b'{"op": "quit"}\n')
                sock.recv(100)
            self._process.wait(timeout=15)
        except (OSError, KeyError, subprocess.TimeoutExpired):
            self._process.terminate()
            self._process.wait(timeout=10)
        finally:
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._log.close()


def rotate_remotely(server: RemoteAws) -> dict[str, Any]:
    env = function_env(
        None,
        AWS_ENDPOINT_URL=server.info["endpoint"],
        **FAKE_CREDENTIALS,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_REGION="us-east-1",
        CA_BUNDLE_PATH=server.info["ca_bundle"],
    )
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as workdir:
        result_file = Path(workdir) / "result.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.remote_rotation",
                str(server.info["control_port"]),
                server.info["secret_arn"],
                str(result_file),
            ],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,  # the function's logs and EMF metrics
            timeout=300,
        )
        result: dict[str, Any] = json.loads(result_file.read_text())
        return result


def baseline_kb() -> int:
    out = subprocess.run(
        [sys.executable, "-c", _BASELINE],
        env=function_env(),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return int(json.loads(out)["maxrss_kb"])


def measure(propagation_delay: float = 0.5) -> Figure:
    # One node, discovered as MemoryDB would report it: the function refuses a user on no cluster.
    with RemoteAws(propagation_delay, nodes=1) as server:
        result = rotate_remotely(server)
    base_mb = baseline_kb() / 1024
    peak_mb = result["maxrss_kb"] / 1024
    ok = bool(result["succeeded"]) and "moto" not in result["loaded"]
    detail = (
        "rotation succeeded" if result["succeeded"] else f"rotation FAILED {result['failures']}"
    )
    moto = "LOADED" if "moto" in result["loaded"] else "not loaded"
    return Figure(
        "memory: peak RSS of one full rotation (moto in another process)",
        f"{peak_mb:.1f} MB ({detail}; {result['seconds']:.1f} s; loaded "
        f"{','.join(result['loaded'])}; moto {moto})",
        f"<= {TARGET_MB:.0f} MB",
        f"python + import boto3 alone, {base_mb:.1f} MB",
        ok and peak_mb <= TARGET_MB,
    )


if __name__ == "__main__":
    print(measure().line())
