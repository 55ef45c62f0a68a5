"""`make demo`: one full rotation in the sandbox, narrated step by step."""

from __future__ import annotations

import hashlib
import sys
import uuid
from typing import Any

from infra.sandbox.driver import STEPS
from infra.sandbox.sandbox import Sandbox

USER = "app-user"


def _fingerprint(password: str) -> str:
    """A short digest that tells passwords apart without showing any of them."""
    return "sha256:" + hashlib.sha256(password.encode()).hexdigest()[:8]


def main() -> int:
    with Sandbox(tls=True, propagation_delay=0.3) as sandbox:
        from rotation.handler import lambda_handler

        sandbox.configure_function(OLD_PASSWORD_POLICY="drop")
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
        for step in STEPS:
            driver.invoke(arn, step, token)
            new = sandbox.view(arn).values.get(token, {}).get("password")
            _report(sandbox, arn, f"{step} done", old, new)
        sandbox.secretsmanager.finish_rotation(sandbox.sm_backend, arn, token)
        sandbox.memorydb.settle()
        _report(sandbox, arn, "service removed AWSPENDING; propagation settled", old, new)
    return 0


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
    sys.exit(main())
