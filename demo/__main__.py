"""`make demo`: one full rotation in the sandbox, narrated step by step.

`python -m demo --drop-after` rotates with OLD_PASSWORD_POLICY=drop-after and then shows
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
import time
import uuid
from collections.abc import Iterator
from typing import Any

from rotation.settings import DEFAULT_GRACE_SECONDS
from sandbox.driver import STEPS
from sandbox.sandbox import Sandbox

USER = "app-user"


def _fingerprint(password: str) -> str:
    """A short digest that tells passwords apart without showing any of them."""
    return "sha256:" + hashlib.sha256(password.encode()).hexdigest()[:8]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
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
    # INFO: the demo reads the function's own "step succeeded" lines (clusters, nodes, outcome).
    # Set before the function's modules are imported: Powertools reads it then.
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
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
        # A second cluster in the same ACL, 3 shards x 2 nodes (a real Redis Cluster): MemoryDB
        # says the user lives on both, so the function proves every password on all seven
        # nodes, primaries and replicas.
        sandbox.create_cluster("orders", shards=3, replicas_per_shard=1)
        arn = sandbox.create_secret(USER, first)
        print(
            "sandbox: moto for Secrets Manager + MemoryDB (made strict), every node a real "
            f"{sandbox.topology.engine}-server over TLS (test CA), propagation "
            f"{sandbox.propagation_delay}s per update"
        )
        print(f"secret:  {arn}")
        print(f"user:    {USER}, PasswordCount {sandbox.password_count(USER)}")
        for name in ("sandbox-cluster", "orders"):
            cluster = sandbox.cluster(name)
            print(f"cluster: {name}: {cluster.describe()}")
            for shard, (low, high) in zip(cluster.shards, cluster.slots, strict=True):
                nodes = ", ".join(
                    f"{n.name} {'primary' if i == 0 else 'replica'} ({n.host}:{n.port})"
                    for i, n in enumerate(shard)
                )
                print(f"           slots {low}-{high}: {nodes}")
        print(
            "         (sha256:xxxxxxxx below is a password FINGERPRINT, the first 8 hex digits "
            "of its SHA-256; no password is ever printed)"
        )
        _status(sandbox, arn, "before the rotation")
        token = str(uuid.uuid4())
        driver = sandbox.driver(lambda_handler)
        sandbox.stage_pending(arn, token)
        before = sandbox.view(arn)
        old = before.password("AWSCURRENT")
        _report(sandbox, arn, "RotateSecret staged an empty AWSPENDING", old, None)
        total = 0
        for step in STEPS:
            sandbox.clear_calls()
            captured = io.StringIO()
            started = time.perf_counter()
            with contextlib.redirect_stdout(captured), _function_log_to(captured):
                driver.invoke(arn, step, token)  # its log lines and metrics print to stdout
            took = time.perf_counter() - started
            if show_logs:
                print(captured.getvalue(), end="")
            calls = sandbox.calls()
            total += len(calls)
            new = sandbox.view(arn).values.get(token, {}).get("password")
            _report(sandbox, arn, f"{step} done in {took:.2f}s", old, new)
            print(f"   {_step_line(captured.getvalue())}")
            print(f"   AWS calls: {_count(calls)}")
        if not drop_after:
            print(
                "   (the old password may still work for a moment: finishSecret's UpdateUser "
                "leaves the user `modifying` while the drop propagates to every node)"
            )
        sandbox.finish_rotation(arn, token)
        sandbox.settle()
        _report(sandbox, arn, "service removed AWSPENDING; propagation settled", old, new)
        print(f"\nAWS calls in the whole rotation: {total}")
        if drop_after:
            _grace(sandbox, arn, old, new, show_logs)
        _status(sandbox, arn, "after the rotation")
        return _verdict(sandbox, arn, token, old, new)


@contextlib.contextmanager
def _function_log_to(stream: io.StringIO) -> Iterator[None]:
    """Powertools' handler holds the stdout it saw at import; point it at `stream` meanwhile."""
    from rotation.observability import logger

    handler = logger.registered_handler
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]


def _step_line(output: str) -> str:
    """The function's own "step succeeded" line, read from its log: outcome and where it
    proved passwords."""
    for line in output.splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("message") == "step succeeded":
                clusters = ", ".join(record.get("clusters") or []) or "-"
                return (
                    f"outcome {record.get('outcome')}; proven on {record.get('nodes')} nodes "
                    f"of {clusters}; waited {record.get('waited_seconds')}s"
                )
    return "the step failed: run with --logs"


def _status(sandbox: Sandbox, arn: str, when: str) -> None:
    """`memorydb-rotation status --probe`, as an operator would run it."""
    from demo.status import show_status

    print(f"\n== memorydb-rotation status --probe ({when})")
    tls = sandbox.tls_files
    with contextlib.redirect_stderr(io.StringIO()):
        show_status(arn, ca_bundle=tls.ca_cert if tls else None, probe=True)


def _verdict(sandbox: Sandbox, arn: str, token: str, old: str | None, new: Any) -> int:
    view = sandbox.view(arn)
    moved = view.version_with("AWSCURRENT") == token
    old_everywhere = sandbox.accepts_everywhere(USER, old) if isinstance(old, str) else {}
    new_everywhere = sandbox.accepts_everywhere(USER, new) if isinstance(new, str) else {}
    count = sandbox.password_count(USER)
    ok = (
        moved
        and not any(old_everywhere.values())
        and bool(new_everywhere)
        and all(new_everywhere.values())
        and count == 1
    )
    print(
        f"\nverdict: {'OK' if ok else 'NOT OK'}: AWSCURRENT "
        f"{'moved to the new version' if moved else 'did NOT move'}; old password refused on "
        f"{sum(not v for v in old_everywhere.values())}/{len(old_everywhere)} nodes; new "
        f"password accepted on {sum(new_everywhere.values())}/{len(new_everywhere)} nodes; "
        f"PasswordCount {count}"
    )
    return 0 if ok else 1


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
    sandbox.settle()
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
            nodes = sandbox.accepts_everywhere(USER, password)
            works.append(
                f"{name} {_fingerprint(password)} accepted on {sum(nodes.values())}/{len(nodes)} "
                "nodes"
            )
    print(f"\n== {title}")
    print(f"   labels: {labels}")
    print(
        f"   MemoryDB: status {sandbox.user_status(USER)}, "
        f"PasswordCount {sandbox.password_count(USER)}"
    )
    print(f"   data plane: {'; '.join(works) or '-'}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
