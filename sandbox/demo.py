"""`make demo`: one full rotation in the sandbox, narrated step by step.

`python -m sandbox.demo --drop-after` rotates with OLD_PASSWORD_POLICY=drop-after and then shows
the schedule finishSecret created, the old password working through the grace, and the drop.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import uuid
from typing import Any

from rotation.settings import DEFAULT_GRACE_SECONDS
from sandbox.driver import STEPS
from sandbox.sandbox import Sandbox

USER = "app-user"


def _fingerprint(password: str) -> str:
    """A short digest that tells passwords apart without showing any of them."""
    return "sha256:" + hashlib.sha256(password.encode()).hexdigest()[:8]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.demo", description=__doc__)
    parser.add_argument(
        "--logs", action="store_true", help="also print the function's log lines and metrics"
    )
    parser.add_argument(
        "--drop-after",
        action="store_true",
        help="rotate with OLD_PASSWORD_POLICY=drop-after; show the schedule, the grace, the drop",
    )
    options = parser.parse_args(argv)
    show_logs, drop_after = options.logs, options.drop_after
    if not show_logs:
        # Set before the function's modules are imported: Powertools reads it then.
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    with Sandbox(tls=True, propagation_delay=0.3) as sandbox:
        from rotation.handler import lambda_handler

        # The function's own defaults for every wait, as deployed.
        sandbox.configure_function(
            OLD_PASSWORD_POLICY="drop",
            WAIT_INITIAL_INTERVAL_SECONDS=None,
            WAIT_MAX_INTERVAL_SECONDS=None,
            WAIT_TIMEOUT_SECONDS=None,
            CONNECT_TIMEOUT_SECONDS=None,
        )
        if drop_after:
            # The default grace; the sandbox's scheduler clock skips ahead instead of waiting.
            sandbox.drop_after(
                DEFAULT_GRACE_SECONDS,
                WAIT_INITIAL_INTERVAL_SECONDS=None,
                WAIT_MAX_INTERVAL_SECONDS=None,
                WAIT_TIMEOUT_SECONDS=None,
                CONNECT_TIMEOUT_SECONDS=None,
            )
        first = sandbox.create_user(USER)
        arn = sandbox.create_secret(USER, first)
        print(
            f"sandbox: redis-server {sandbox.redis.host}:{sandbox.redis.port} over TLS "
            f"(test CA), moto for Secrets Manager + MemoryDB, propagation "
            f"{sandbox.propagation_delay}s per update"
        )
        print(f"secret:  {arn}")
        print(f"user:    {USER}, PasswordCount {sandbox.memorydb.password_count(USER)}")
        token = str(uuid.uuid4())
        driver = sandbox.driver(lambda_handler)
        sandbox.secretsmanager.stage_pending(sandbox.sm_backend, arn, token)
        before = sandbox.view(arn)
        old = before.password("AWSCURRENT")
        _report(sandbox, arn, "RotateSecret staged an empty AWSPENDING", old, None)
        total = 0
        for step in STEPS:
            sandbox.memorydb.calls.clear()
            sandbox.secretsmanager.calls.clear()
            sandbox.scheduler.calls.clear()
            with contextlib.redirect_stdout(sys.stdout if show_logs else io.StringIO()):
                driver.invoke(arn, step, token)  # its metrics (EMF) print to stdout
            calls = sandbox.secretsmanager.calls + sandbox.memorydb.calls + sandbox.scheduler.calls
            total += len(calls)
            new = sandbox.view(arn).values.get(token, {}).get("password")
            _report(sandbox, arn, f"{step} done", old, new)
            print(f"   AWS calls: {_count(calls)}")
        sandbox.secretsmanager.finish_rotation(sandbox.sm_backend, arn, token)
        sandbox.memorydb.settle()
        _report(sandbox, arn, "service removed AWSPENDING; propagation settled", old, new)
        print(f"\nAWS calls in the whole rotation: {total}")
        if drop_after:
            _grace(sandbox, arn, old, new, show_logs)
    return 0


def _grace(sandbox: Sandbox, arn: str, old: str | None, new: Any, show_logs: bool) -> None:
    """OLD_PASSWORD_POLICY=drop-after: the schedule finishSecret left, the grace, the drop."""
    for schedule in sandbox.scheduler.schedules():
        event = json.loads(schedule.target["Input"])
        print(f"\n== schedule {schedule.group_name}/{schedule.name}")
        after = schedule.action_after_completion
        print(f"   {schedule.schedule_expression} UTC, ActionAfterCompletion {after}")
        print(f"   target {schedule.target['Arn']} with {event}")
    grace = DEFAULT_GRACE_SECONDS
    with contextlib.redirect_stdout(sys.stdout if show_logs else io.StringIO()):
        early = sandbox.pass_time(grace - 60)
    _report(sandbox, arn, f"{grace - 60} s later (sandbox clock): {len(early)} fired", old, new)
    with contextlib.redirect_stdout(sys.stdout if show_logs else io.StringIO()):
        fired = sandbox.pass_time(61)
    sandbox.memorydb.settle()
    done = ", ".join("dropped" if f.succeeded else f"failed: {f.errors}" for f in fired)
    _report(sandbox, arn, f"the grace is over: the schedule fired ({done})", old, new)
    print(f"   schedules left: {len(sandbox.scheduler.schedules())}")


def _count(calls: list[str]) -> str:
    return ", ".join(f"{name} {calls.count(name)}" for name in dict.fromkeys(calls)) or "none"


def _report(sandbox: Sandbox, arn: str, title: str, old: str | None, new: Any) -> None:
    view = sandbox.view(arn)
    labels = ", ".join(
        f"{version[:8]}…={'+'.join(stages) or '(none)'}"
        for version, stages in view.versions.items()
    )
    works = []
    for name, password in (("old", old), ("new", new)):
        if isinstance(password, str):
            ok = sandbox.authenticates(USER, password)
            works.append(f"{name} {_fingerprint(password)} {'authenticates' if ok else 'REFUSED'}")
    print(f"\n== {title}")
    print(f"   labels: {labels}")
    print(
        f"   MemoryDB: status {sandbox.memorydb.status(USER)}, "
        f"PasswordCount {sandbox.memorydb.password_count(USER)}"
    )
    print(f"   data plane: {'; '.join(works) or '-'}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
