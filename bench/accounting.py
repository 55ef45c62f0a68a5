"""Splitting a cProfile run's CPU time by owner: the handler's code, boto3, moto, and the rest.

Self time of a function in a known package belongs to that package. Self time of the standard
library and of builtins (json, ssl, socket, re, ...) belongs to whoever called it: it is handed up
the call graph in proportion to the time each caller spent in it, until it reaches a function of
a known package. Time that never reaches one is "other".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from bench.common import ROOT

# Label, then path fragments that identify it, checked in order.
OWNERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("handler code (rotation/)", (str(ROOT / "rotation") + "/",)),
    ("sandbox patches (sandbox/)", (str(ROOT / "sandbox") + "/",)),
    ("bench driver", (str(ROOT / "bench") + "/",)),
    ("boto3/botocore", ("/boto3/", "/botocore/", "/s3transfer/", "/urllib3/", "/jmespath/")),
    ("moto", ("/moto/", "/responses/", "/werkzeug/", "/xmltodict", "/jinja2/", "/requests/")),
    ("pydantic", ("/pydantic/", "/pydantic_core/", "/annotated_types/", "/typing_inspection/")),
    ("powertools", ("/aws_lambda_powertools/",)),
    ("redis-py", ("/redis/",)),
)
OTHER = "other"

FuncKey = tuple[str, int, str]
Stats = Mapping[FuncKey, tuple[Any, ...]]


def owner_of(filename: str) -> str | None:
    """The owner label of a source file, or None for the standard library and builtins."""
    for label, fragments in OWNERS:
        if any(fragment in filename for fragment in fragments):
            return label
    return None


def split_self_time(
    stats: Stats, owner: Callable[[str], str | None] = owner_of
) -> dict[str, float]:
    """Seconds per owner. `stats` is pstats.Stats(...).stats: func -> (cc, nc, tt, ct, callers)."""
    shares: dict[FuncKey, dict[str, float]] = {}
    in_progress: set[FuncKey] = set()

    def share(func: FuncKey) -> dict[str, float]:
        """How func's self time divides among owners (fractions summing to 1)."""
        if func in shares:
            return shares[func]
        label = owner(func[0])
        if label is not None:
            shares[func] = {label: 1.0}
            return shares[func]
        if func in in_progress or func not in stats:
            return {OTHER: 1.0}
        in_progress.add(func)
        callers: Mapping[FuncKey, tuple[Any, ...]] = stats[func][4]
        # An edge's tt is func's self time when called from that caller; ct breaks all-zero ties.
        weights = {caller: float(edge[2]) for caller, edge in callers.items()}
        total = sum(weights.values())
        if total <= 0:
            weights = {caller: float(edge[3]) for caller, edge in callers.items()}
            total = sum(weights.values())
        result: dict[str, float] = {}
        if total <= 0:
            result = {OTHER: 1.0}
        else:
            for caller, weight in weights.items():
                for label_, fraction in share(caller).items():
                    result[label_] = result.get(label_, 0.0) + fraction * weight / total
        in_progress.discard(func)
        shares[func] = result
        return result

    seconds: dict[str, float] = {}
    for func, row in stats.items():
        for label, fraction in share(func).items():
            seconds[label] = seconds.get(label, 0.0) + float(row[2]) * fraction
    return seconds
