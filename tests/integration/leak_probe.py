"""Runs rotations that succeed and fail, with every log at DEBUG, in a process of its own.

The parent test reads everything this process wrote to stdout and stderr and looks for every
password and RotationToken it used; they are handed over in a file, never printed.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import uuid
from pathlib import Path

from sandbox import Sandbox

USER = "app-user"


def main(report: Path) -> int:
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "DEBUG"
    rotation_token = "rotation-token-" + uuid.uuid4().hex
    errors: list[str] = []
    with Sandbox(propagation_delay=0.02) as sandbox:
        from rotation.handler import lambda_handler

        # testSecret polls a node that refuses until its time runs out: one second here.
        sandbox.configure_function(WAIT_TIMEOUT_SECONDS="1")
        driver = sandbox.driver(lambda_handler, step_attempts=2)
        password = sandbox.create_user(USER)
        arn = sandbox.create_secret(USER, password)
        for _ in range(2):
            outcome = driver.rotate(arn, rotation_token=rotation_token)
            if not outcome.succeeded:
                return 3
            sandbox.view(arn)
        sandbox.lose_next_propagation(USER)
        failed = driver.rotate(arn, rotation_token=rotation_token)
        errors += [a.error or "" for a in failed.attempts]
        sandbox.view(arn)
        # A secret whose document is wrong carries a password into the parser.
        bad = sandbox.create_secret(
            "bad-user", "Bad-document-password-0123456", name="bad", port="not-a-port"
        )
        errors += [a.error or "" for a in driver.rotate(bad).attempts]
        # A current password the cluster refuses (another user: USER belongs to `arn` now).
        sandbox.create_user("stale-user")
        stale = sandbox.create_secret("stale-user", "Stale-password-0123456789-abc", name="stale")
        errors += [a.error or "" for a in driver.rotate(stale).attempts]
        print("\n".join(errors), file=sys.stderr)
        secrets = [*sorted(sandbox.passwords_seen), rotation_token]
    report.write_text(json.dumps(secrets))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
