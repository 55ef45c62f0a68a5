"""The function's process of the Lambda-size benchmark: what runs inside the CPU cgroup.

    python -m bench.lambda_child floor RESULT_FILE
    python -m bench.lambda_child libraries RESULT_FILE
    python -m bench.lambda_child rotate CONTROL_PORT SECRET_ARN RESULT_FILE

`floor`: `import boto3` and the two clients the function builds (Secrets Manager and MemoryDB,
with the function's botocore Config), timed from this module's first line.

`libraries`: the floor, then the imports of the function's two chosen libraries that every
cold path makes before its first AWS call: pydantic (BaseModel, SecretStr, Field: the first
model's build imports pydantic.fields and pydantic.types) and the Powertools package (its root
imports Logger, Metrics and Tracer together). No cold path that validates the event and the
settings with pydantic and logs with Powertools can be faster than this.

`rotate`: the cold path (import rotation.handler, then createSecret's invocation until its first
AWS call returns), then the whole rotation as Secrets Manager drives it (stage, four steps with
ARN events, finish), each step's wall time and the TLS connections the servers accepted during
it. The first AWS call is timed by wrapping botocore's Endpoint.make_request as botocore loads
(an import hook), so nothing of botocore is imported before the handler imports it.

Only the standard library is imported here before the function; no sandbox, no moto.
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import importlib.abc  # noqa: E402 - after the clock starts: its cost is the function's too
import importlib.util  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

from bench.remote_rotation import STEPS, Context, Control  # noqa: E402

FIRST_CALL_RETURNED: list[float] = []
FIRST_CALL_MARK = "bench: first AWS call returned"


class _FirstCall(importlib.abc.MetaPathFinder):
    """On `botocore.endpoint`'s import, wrap Endpoint.make_request to note when it first returns."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "botocore.endpoint":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        original_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original_exec(module)
            endpoint: Any = module.Endpoint
            make_request = endpoint.make_request

            def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
                try:
                    return make_request(self, *args, **kwargs)
                finally:
                    if not FIRST_CALL_RETURNED:
                        FIRST_CALL_RETURNED.append(time.perf_counter())
                        if "importtime" in sys._xoptions:
                            # bench.import_profile counts the imports up to this line only.
                            sys.stderr.write(FIRST_CALL_MARK + "\n")
                            sys.stderr.flush()

            endpoint.make_request = timed

        loader.exec_module = exec_module
        return spec


def floor() -> dict[str, Any]:
    import boto3

    from rotation.adapters.aws import boto_config

    boto3.client("secretsmanager", config=boto_config())
    boto3.client("memorydb", config=boto_config())
    return {"seconds": time.perf_counter() - STARTED, "cpu": time.process_time()}


def libraries() -> dict[str, Any]:
    import boto3

    from rotation.adapters.aws import boto_config

    boto3.client("secretsmanager", config=boto_config())
    boto3.client("memorydb", config=boto_config())
    import aws_lambda_powertools  # noqa: F401 - its import is the figure
    from pydantic import BaseModel, Field, SecretStr  # noqa: F401

    return {"seconds": time.perf_counter() - STARTED, "cpu": time.process_time()}


def rotate(control_port: int, secret_arn: str) -> dict[str, Any]:
    sys.meta_path.insert(0, _FirstCall())
    from rotation.handler import lambda_handler

    imported = time.perf_counter() - STARTED
    control = Control(control_port)
    token = str(uuid.uuid4())
    control.send(op="stage", token=token)
    steps: dict[str, dict[str, Any]] = {}
    first_call = 0.0
    for step in STEPS:
        before = control.send(op="connections")["connections"]
        began = time.perf_counter()
        event = {"Step": step, "SecretId": secret_arn, "ClientRequestToken": token}
        error = ""
        try:
            lambda_handler(event, Context())
        except Exception as exc:  # noqa: BLE001 - the figure says which step failed, and how
            error = type(exc).__name__
        seconds = time.perf_counter() - began
        if not first_call and FIRST_CALL_RETURNED:
            # The cold path: interpreter's first instruction here to the first call's answer.
            first_call = FIRST_CALL_RETURNED[0] - STARTED
        after = control.send(op="connections")["connections"]
        steps[step] = {"seconds": seconds, "connections": after - before, "error": error}
        if error:
            break
    succeeded = all(not s["error"] for s in steps.values()) and len(steps) == len(STEPS)
    if succeeded:
        control.send(op="finish", token=token)
    return {
        "import_seconds": imported,
        "cold_seconds": first_call,
        "steps": steps,
        "succeeded": succeeded,
        "cpu": time.process_time(),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "redis_loaded": "redis" in sys.modules,
    }


def main(argv: list[str]) -> int:
    if argv[0] == "floor":
        result, out = floor(), argv[1]
    elif argv[0] == "libraries":
        result, out = libraries(), argv[1]
    else:
        result, out = rotate(int(argv[1]), argv[2]), argv[3]
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
