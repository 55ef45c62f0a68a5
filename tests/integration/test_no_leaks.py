"""No password or RotationToken in anything the function writes, even at DEBUG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_secret_in_any_output_at_debug_level(tmp_path: Path) -> None:
    report = tmp_path / "secrets.json"

    run = subprocess.run(
        [sys.executable, "-m", "tests.integration.leak_probe", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    secrets = json.loads(report.read_text())
    assert len(secrets) >= 6  # first, two rotated, one lost, the bad and the stale ones, token
    output = run.stdout + run.stderr
    # The probe did log at DEBUG and did fail: the scan looks at real material.
    assert '"level":"DEBUG"' in output or "DEBUG" in output
    assert "PendingPasswordRejectedError" in output
    assert "CurrentPasswordRejectedError" in output
    leaked = [s for s in secrets if s in output]
    assert leaked == []
