"""What every benchmark shares: the template's default environment and the figure format."""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rotation.settings import ENV_VARS

ROOT = Path(__file__).resolve().parent.parent

# The function's environment as template.yaml sets it by default (TracingEnabled=false,
# LogLevel=INFO). The rotation settings are left unset: the function's own defaults apply.
TEMPLATE_DEFAULT_ENV: dict[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "memorydb-rotation",
    "POWERTOOLS_METRICS_NAMESPACE": "MemoryDBRotation",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
    "TRACING_ENABLED": "false",
}

# Settings a benchmark must not inherit from the caller's shell: the function's defaults apply.
FUNCTION_SETTINGS = ENV_VARS


def function_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """A child process's environment: the caller's, less function settings, plus the template's."""
    env = dict(os.environ if base is None else base)
    for name in FUNCTION_SETTINGS:
        env.pop(name, None)
    env.update(TEMPLATE_DEFAULT_ENV)
    env.update(extra)
    env["PYTHONPATH"] = str(ROOT)
    return env


@dataclass(frozen=True)
class Figure:
    """One printed figure: `name: value (target: ..., baseline: ..., PASS/FAIL)`."""

    name: str
    value: str
    target: str
    baseline: str
    passed: bool | None
    """None for figures that are reported, not judged (there is no target to meet)."""

    def line(self) -> str:
        verdict = "INFO" if self.passed is None else ("PASS" if self.passed else "FAIL")
        return (
            f"{self.name}: {self.value} "
            f"(target: {self.target}, baseline: {self.baseline}, {verdict})"
        )


def median(values: Sequence[float]) -> float:
    if not values:
        raise ValueError("no samples")
    return float(statistics.median(values))


def fmt_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(size: float) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.2f} MB"
    return f"{size / 1024:.1f} KB"
