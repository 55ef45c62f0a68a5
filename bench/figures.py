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


NODE_FLOOR_RATIO = 1.3
NODE_DELAY_RATIO = 3.0
NODE_MEMORY_MB = 100.0
# Discovery per invocation for a user in one ACL used by one cluster: one page of each.
DISCOVERY = ("DescribeACLs", "DescribeClusters")


def _medians(samples: list[dict[str, Any]]) -> tuple[float, float, bool]:
    """Median wall time, median client CPU, and whether every sample was accepted everywhere."""
    return (
        median([s["wall"] for s in samples]),
        median([s["cpu"] for s in samples]),
        all(s["ok"] for s in samples),
    )


def node_figures(result: dict[str, Any]) -> list[Figure]:
    """bench.nodes' samples: every proof beside its floor, and 20 nodes against 1 with delay."""
    figures = []
    workers = result["concurrency"]
    for count, data in result["verification"].items():
        wall, cpu, ok = _medians(data["proof"])
        floor_wall, floor_cpu, floor_ok = _medians(data["floor"])
        runs = len(data["proof"])
        baseline = (
            f"{count} bare TLS connect + AUTH exchange(s) (ssl + socket) at concurrency "
            f"{min(int(count), workers)}, alternating with the proof"
        )
        failed = "" if ok and floor_ok else "; a proof or floor round was REFUSED somewhere"
        for what, mine, floor in (("wall time", wall, floor_wall), ("client CPU", cpu, floor_cpu)):
            ratio = mine / floor
            figures.append(
                Figure(
                    f"nodes: proof on {count} TLS node(s), {what} / floor",
                    f"{ratio:.2f}x ({fmt_seconds(mine)} vs {fmt_seconds(floor)}, median of "
                    f"{runs}{failed})",
                    f"<= {NODE_FLOOR_RATIO}x",
                    baseline,
                    ok and floor_ok and ratio <= NODE_FLOOR_RATIO,
                )
            )
    delayed = result["delayed"]
    one, many = sorted(delayed, key=int)[0], sorted(delayed, key=int)[-1]
    one_wall, _, one_ok = _medians(delayed[one]["proof"])
    many_wall, many_cpu, many_ok = _medians(delayed[many]["proof"])
    floor_one, _, _ = _medians(delayed[one]["floor"])
    floor_many, _, _ = _medians(delayed[many]["floor"])
    ratio = many_wall / one_wall
    rtt_ms = result["round_trip"] * 1000
    figures.append(
        Figure(
            f"nodes: proof on {many} nodes / on {one} node, {rtt_ms:.0f} ms round trip per "
            "connection",
            f"{ratio:.2f}x ({fmt_seconds(many_wall)} vs {fmt_seconds(one_wall)}, median of "
            f"{len(delayed[many]['proof'])}; {many} nodes use {fmt_seconds(many_cpu)} client CPU; "
            f"at most {workers} connections at once"
            f"{'' if one_ok and many_ok else '; a proof was REFUSED somewhere'})",
            f"<= {NODE_DELAY_RATIO:g}x",
            f"{one} node through the same delaying proxy; the floor's own ratio is "
            f"{floor_many / floor_one:.2f}x ({fmt_seconds(floor_many)} vs "
            f"{fmt_seconds(floor_one)})",
            one_ok and many_ok and ratio <= NODE_DELAY_RATIO,
        )
    )
    start, end = result["load"]
    figures.append(
        Figure(
            "nodes: machine load while measuring",
            f"1-minute load average {start:.1f} at the start, {end:.1f} at the end",
            "reported, not judged: the servers' TLS handshakes compete for the same cores",
            "ratios are taken in one run, so load hits proof and floor alike",
            None,
        )
    )
    return figures


def _calls_per_step(result: dict[str, Any]) -> dict[str, list[list[str]]]:
    """Step -> the actions of each of its invocations, in order."""
    steps: dict[str, list[list[str]]] = {}
    for invocation in result["invocations"]:
        steps.setdefault(invocation["step"], []).append(list(invocation["actions"]))
    return steps


def _without_polls(result: dict[str, Any]) -> dict[str, int]:
    """Action -> count over the rotation, DescribeUsers left out: how often a step polls a
    `modifying` user depends on timing, not on the topology."""
    counts: dict[str, int] = {}
    for invocation in result["invocations"]:
        for action in invocation["actions"]:
            if action != "DescribeUsers":
                counts[action] = counts.get(action, 0) + 1
    return counts


def node_rotation_figures(result: dict[str, Any], one_node: dict[str, Any]) -> list[Figure]:
    """bench.nodes.full_rotation on many nodes, beside the same on one node: peak RSS, and the
    AWS calls of every step."""
    nodes = result["nodes"]
    succeeded = bool(result["succeeded"]) and bool(one_node["succeeded"])
    peak_mb = result["maxrss_kb"] / 1024
    detail = "rotation succeeded" if result["succeeded"] else f"FAILED {result['failures']}"
    figures = [
        Figure(
            f"nodes: peak RSS of one full rotation proven on {nodes} nodes",
            f"{peak_mb:.1f} MB ({detail}; {result['seconds']:.1f} s; moto in another process; "
            "the served sandbox's cluster, sandbox/server.py)",
            f"<= {NODE_MEMORY_MB:.0f} MB",
            f"the same rotation on {one_node['nodes']} node {one_node['maxrss_kb'] / 1024:.1f} MB; "
            f"python + import boto3 alone {result['baseline_kb'] / 1024:.1f} MB",
            succeeded and peak_mb <= NODE_MEMORY_MB,
        )
    ]
    for step, invocations in _calls_per_step(result).items():
        counts: dict[str, int] = {}
        for actions in invocations:
            for action in actions:
                counts[action] = counts.get(action, 0) + 1
        once = all(actions.count(name) == 1 for actions in invocations for name in DISCOVERY)
        figures.append(
            Figure(
                f"nodes: AWS calls, {step}",
                f"{sum(counts.values())} in {len(invocations)} invocation(s) "
                f"({', '.join(f'{name} {n}' for name, n in counts.items())})",
                "discovery (DescribeACLs + DescribeClusters) exactly once per invocation",
                f"a user in 1 ACL on 1 cluster of {nodes} nodes",
                once,
            )
        )
    many_total = sum(len(i["actions"]) for i in result["invocations"])
    one_total = sum(len(i["actions"]) for i in one_node["invocations"])
    figures.append(
        Figure(
            f"nodes: AWS calls of one full rotation on {nodes} nodes",
            f"{many_total} in {len(result['invocations'])} invocations",
            "the same calls as on one node, status polls (DescribeUsers) aside: nodes cost "
            "connections, not AWS calls",
            f"{one_total} in {len(one_node['invocations'])} invocations on "
            f"{one_node['nodes']} node (counted by the moto server: botocore's retries show)",
            succeeded and _without_polls(result) == _without_polls(one_node),
        )
    )
    return figures
