"""Turning the in-process benchmarks' JSON results into printed figures (pure; unit-tested)."""

from __future__ import annotations

from typing import Any

from bench.common import Figure, fmt_seconds, median

WAIT_FACTOR = 1.15
WAIT_SLACK_SECONDS = 1.0
HANDLER = "handler code (rotation/)"
AWS_SIDE = ("boto3/botocore", "moto", "sandbox patches (sandbox/)")


def waiting_target(delay: float) -> float:
    return WAIT_FACTOR * delay + WAIT_SLACK_SECONDS


def waiting_figures(result: dict[str, Any]) -> list[Figure]:
    """One figure per D. Unavoidable waiting is one propagation: setSecret's update must reach
    the cluster before testSecret can prove it. finishSecret's drop propagates after the
    rotation has finished and is waited out (if ever) by the next rotation's setSecret."""
    figures = []
    for key, samples in result.items():
        delay = float(key)
        seconds = [s["seconds"] for s in samples]
        ok = all(s["succeeded"] for s in samples)
        worst = max(seconds)
        mid = median(seconds)
        target = waiting_target(delay)
        polls = sorted({s["polls"] for s in samples})
        figures.append(
            Figure(
                f"waiting: full rotation wall time, propagation D={delay:g} s",
                f"{mid:.2f} s median, {worst:.2f} s worst of {len(samples)} "
                f"({mid / delay:.3f}x D; DescribeUsers calls {'/'.join(map(str, polls))}"
                f"{'' if ok else '; a rotation FAILED'})",
                f"<= {target:.2f} s (1.15 x D + 1 s, every run)",
                f"unavoidable waiting {delay:g} s (one propagation, setSecret's update)",
                ok and worst <= target,
            )
        )
    return figures


def calls_figures(result: dict[str, Any]) -> list[Figure]:
    figures = []
    total = 0
    repeated_total = 0
    for step, data in result["steps"].items():
        calls: dict[str, int] = data["calls"]
        repeated: dict[str, int] = data["repeated"]
        count = sum(calls.values())
        total += count
        repeated_total += sum(repeated.values())
        detail = ", ".join(f"{name} {n}" for name, n in calls.items())
        figures.append(
            Figure(
                f"calls: {step}",
                f"{count} ({detail}; repeated {sum(repeated.values())})",
                "no request repeated where its answer serves",
                "one invocation; status polls of a modifying user are not repeats",
                sum(repeated.values()) == 0,
            )
        )
    served = int(result["served_by_sandbox"])
    figures.append(
        Figure(
            "calls: one full rotation",
            f"{total} AWS calls in {result['invocations']} invocations "
            f"(repeated {repeated_total}{'' if result['succeeded'] else '; rotation FAILED'})",
            "no request repeated where its answer serves; nothing cached across invocations",
            f"{served} calls served by the sandbox's moto for the same rotation",
            repeated_total == 0 and total == served and bool(result["succeeded"]),
        )
    )
    return figures


def _per_rotation(split: dict[str, float], cpu: float, *labels: str) -> float:
    """Seconds of `cpu` (one rotation's unprofiled CPU) that the profile gives to `labels`."""
    total = sum(split.values()) or 1.0
    return cpu * sum(split.get(label, 0.0) for label in labels) / total


def scale_figures(result: dict[str, Any]) -> list[Figure]:
    cpu = list(result["cpu_per_rotation"])
    half = len(cpu) // 2
    first, last = median(cpu[:half]), median(cpu[half:])
    per_rotation = median(cpu)
    before: dict[str, float] = result["split_before"]
    after: dict[str, float] = result["split_after"]
    merged = {k: before.get(k, 0.0) + after.get(k, 0.0) for k in {*before, *after}}
    handler = _per_rotation(merged, per_rotation, HANDLER)
    aws = _per_rotation(merged, per_rotation, *AWS_SIDE)
    others = ", ".join(
        f"{label} {fmt_seconds(_per_rotation(merged, per_rotation, label))}"
        for label, _ in sorted(merged.items(), key=lambda kv: -kv[1])
        if label != HANDLER and label not in AWS_SIDE
    )
    n = result["rotations"]

    def growth(*labels: str) -> str:
        start = _per_rotation(before, first, *labels)
        end = _per_rotation(after, last, *labels)
        return f"{fmt_seconds(start)} -> {fmt_seconds(end)}"

    return [
        Figure(
            "scale: CPU per rotation in the handler's own code",
            f"{fmt_seconds(handler)} ({handler / per_rotation:.1%} of {fmt_seconds(per_rotation)} "
            f"CPU per rotation, median over {n} rotations in one process; start -> end: "
            f"handler {growth(HANDLER)}, boto3/moto {growth(*AWS_SIDE)}, all CPU "
            f"{fmt_seconds(first)} -> {fmt_seconds(last)}; moto held "
            f"{result['secret_versions_at_end']} secret versions at the end)",
            "reported, not judged: growth must be visible",
            f"inside boto3/botocore + moto {fmt_seconds(aws)} per rotation "
            f"({aws / per_rotation:.1%})",
            None,
        ),
        Figure(
            "scale: the rest of the CPU per rotation",
            others or "none",
            "reported, not judged",
            f"split by cProfile (CPU clock) over {result['profiled_rotations']} rotations before "
            f"and {result['profiled_rotations']} after the {n}, standard-library time charged "
            "to its caller",
            None,
        ),
    ]
