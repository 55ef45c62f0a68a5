"""The rotating process of the memory benchmark: the function, and nothing of moto.

    python -m bench.remote_rotation CONTROL_PORT SECRET_ARN RESULT_FILE

Expects AWS_ENDPOINT_URL to point at bench.server's moto. Does what Secrets Manager does (stage,
the four steps with ARN events and up to three attempts each, finish) with only the standard
library besides the function, then writes its peak RSS (ru_maxrss) and which heavy packages it
loaded to RESULT_FILE as JSON. It must not import sandbox: that package imports moto.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import time
import uuid
from typing import Any

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


class Context:
    """The Lambda context fields Powertools reads, with a real countdown."""

    function_name = "memorydb-rotation"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:memorydb-rotation"

    def __init__(self, timeout: float = 900.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Control:
    def __init__(self, port: int) -> None:
        self._sock = socket.create_connection(("127.0.0.1", port))
        self._file = self._sock.makefile("rwb")

    def send(self, **command: Any) -> Any:
        self._file.write(json.dumps(command).encode() + b"\n")
        self._file.flush()
        return json.loads(self._file.readline())


def main(argv: list[str]) -> int:
    control_port, secret_arn, result_file = int(argv[0]), argv[1], argv[2]
    control = Control(control_port)
    started = time.monotonic()
    from rotation.handler import lambda_handler

    token = str(uuid.uuid4())
    control.send(op="stage", token=token)
    failures: list[str] = []
    invocations: list[dict[str, Any]] = []
    succeeded = True
    for step in STEPS:
        for _attempt in range(3):
            event = {"Step": step, "SecretId": secret_arn, "ClientRequestToken": token}
            try:
                lambda_handler(event, Context())
            except Exception as exc:  # noqa: BLE001 - the service records any failure
                failures.append(f"{step}: {type(exc).__name__}")
                ok = False
            else:
                ok = True
            # The AWS actions this invocation made, as the server saw them (names only).
            invocations.append({"step": step, "ok": ok, "actions": control.send(op="actions")})
            if ok:
                break
        else:
            succeeded = False
            break
    if succeeded:
        control.send(op="finish", token=token)
    elapsed = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    loaded = sorted(
        {m.split(".")[0] for m in sys.modules}
        & {"moto", "boto3", "botocore", "redis", "pydantic", "aws_xray_sdk", "werkzeug", "sandbox"}
    )
    result = {
        "maxrss_kb": usage.ru_maxrss,
        "succeeded": succeeded,
        "failures": failures,
        "loaded": loaded,
        "seconds": elapsed,
        "invocations": invocations,
    }
    with open(result_file, "w", encoding="utf-8") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
