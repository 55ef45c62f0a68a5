"""Cold start: importing the handler module vs `import boto3`, in fresh interpreters.

Each sample is a new `python` process with the template's default environment that times one
import with perf_counter (interpreter start-up is the same for both and is left out). The two
kinds alternate, and which goes first alternates too, so drift of the machine hits both alike.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

from bench.common import Figure, fmt_seconds, function_env, median

# The first target was 1.2x; the every-node proof tightened it to 1.10x.
TARGET_RATIO = 1.10

_SNIPPET = (
    "import sys, time\n"
    "t = time.perf_counter()\n"
    "import {module}\n"
    "elapsed = time.perf_counter() - t\n"
    "heavy = sorted({{m.split('.')[0] for m in sys.modules}} & "
    "{{'boto3', 'botocore', 'redis', 'aws_xray_sdk', 'pydantic'}})\n"
    "print(elapsed, ','.join(heavy))\n"
)


@dataclass(frozen=True)
class Sample:
    seconds: float
    loaded: tuple[str, ...]


def import_once(module: str, env: dict[str, str]) -> Sample:
    out = subprocess.run(
        [sys.executable, "-c", _SNIPPET.format(module=module)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()
    loaded = tuple(out[1].split(",")) if len(out) > 1 and out[1] else ()
    return Sample(float(out[0]), loaded)


Job = tuple[str, dict[str, str]]
"""A module to import and the environment to import it in."""


def alternate(runs: int, a: Job, b: Job) -> tuple[list[Sample], list[Sample]]:
    """`runs` samples of each import, alternating (and alternating which goes first), after
    one unmeasured warm-up of each."""
    import_once(*a)
    import_once(*b)
    first: list[Sample] = []
    second: list[Sample] = []
    for i in range(runs):
        if i % 2 == 0:
            first.append(import_once(*a))
            second.append(import_once(*b))
        else:
            second.append(import_once(*b))
            first.append(import_once(*a))
    return first, second


def measure(runs: int = 11) -> list[Figure]:
    env = function_env()
    boto3_samples, handler_samples = alternate(runs, ("boto3", env), ("rotation.handler", env))
    base = median([s.seconds for s in boto3_samples])
    handler = median([s.seconds for s in handler_samples])
    ratio = handler / base
    loaded = ",".join(handler_samples[-1].loaded) or "none"
    figures = [
        Figure(
            "cold start: import rotation.handler / import boto3",
            f"{ratio:.2f}x ({fmt_seconds(handler)} vs {fmt_seconds(base)}, median of {runs} "
            f"alternating fresh processes each; handler import loads: {loaded})",
            f"<= {TARGET_RATIO}x",
            f"import boto3 alone, {fmt_seconds(base)}",
            ratio <= TARGET_RATIO,
        )
    ]
    return figures


def measure_tracing(runs: int = 7) -> Figure:
    """What TRACING_ENABLED=true costs: import the handler and build the service (Tracer)."""
    module = "rotation.handler; rotation.composition.service()"
    off_env = function_env()
    on_env = function_env(TRACING_ENABLED="true", POWERTOOLS_TRACE_DISABLED="false")
    off_samples, on_samples = alternate(runs, (module, off_env), (module, on_env))
    off = [sample.seconds for sample in off_samples]
    on = [sample.seconds for sample in on_samples]
    ratio = median(on) / median(off)
    return Figure(
        "cold start with tracing: import + build the service, TRACING_ENABLED=true / false",
        f"{ratio:.2f}x ({fmt_seconds(median(on))} vs {fmt_seconds(median(off))}, median of "
        f"{runs} alternating)",
        "opt-in only (TracingEnabled defaults to false)",
        f"the same with TRACING_ENABLED=false, {fmt_seconds(median(off))}",
        None,
    )


# The artifact's packages (mk/deploy.mk installs them with --no-compile). Lambda's /var/task is
# read-only, so without .pyc files in the zip every cold start compiles these from source.
ARTIFACT_PACKAGES = (
    "aws_lambda_powertools",
    "jmespath",
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_inspection",
    "typing_extensions.py",
)


def measure_without_bytecode(runs: int = 7) -> Figure:
    """The handler import as the artifact ships today: its packages have no bytecode cache."""
    import shutil
    import sysconfig
    import tempfile
    from pathlib import Path

    from bench.common import ROOT

    site = Path(sysconfig.get_paths()["purelib"])
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    with tempfile.TemporaryDirectory(prefix="bench-nopyc-") as workdir:
        target = Path(workdir)
        for name in ARTIFACT_PACKAGES:
            source = site / name
            if source.is_dir():
                shutil.copytree(source, target / name, ignore=ignore)
            elif source.is_file():
                shutil.copy2(source, target / name)
            for info in site.glob(f"{name.removesuffix('.py')}-*.dist-info"):
                shutil.copytree(info, target / info.name)
        shutil.copytree(ROOT / "rotation", target / "rotation", ignore=ignore)
        cached = function_env()
        env = {**cached, "PYTHONPATH": str(target), "PYTHONDONTWRITEBYTECODE": "1"}
        base_samples, cold_samples = alternate(runs, ("boto3", cached), ("rotation.handler", env))
        base = median([sample.seconds for sample in base_samples])
        cold = median([sample.seconds for sample in cold_samples])
        ratio = cold / base
    return Figure(
        "cold start without bytecode (the artifact's packages with no .pyc) / import boto3",
        f"{ratio:.2f}x ({fmt_seconds(cold)} vs {fmt_seconds(base)}, median of {runs} alternating)",
        f"<= {TARGET_RATIO}x needs .pyc for the Lambda's Python in the zip (make build adds it)",
        f"import boto3 alone (with its bytecode, as the runtime ships it), {fmt_seconds(base)}",
        None,
    )


if __name__ == "__main__":
    for figure in [*measure(), measure_tracing(), measure_without_bytecode()]:
        print(figure.line())
