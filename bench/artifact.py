"""Artifact: the deployment package's size, and that only runtime dependencies are in it."""

from __future__ import annotations

import re
import subprocess
import tempfile
import zipfile
from pathlib import Path

from bench.common import ROOT, Figure, fmt_bytes

ZIP_LIMIT = 50 * 1024 * 1024
UNZIPPED_LIMIT = 250 * 1024 * 1024
# Never in the artifact: the runtime's own SDK, the project's tooling, tests and sandbox.
FORBIDDEN_TOP = {
    "boto3", "botocore", "s3transfer", "moto", "pytest", "_pytest", "mypy", "ruff", "coverage",
    "cryptography", "werkzeug", "responses", "tests", "infra", "sandbox", "tools", "bench",
    "docs", "events",
    "mypy_boto3_memorydb", "mypy_boto3_secretsmanager",
}  # fmt: skip


def make_build_defined() -> bool:
    deploy = ROOT / "mk" / "deploy.mk"
    return deploy.is_file() and re.search(r"(?m)^build:", deploy.read_text()) is not None


def build() -> tuple[Path, str]:
    """build/rotation.zip from `make build` when mk/deploy.mk defines it, else an equivalent."""
    if make_build_defined():
        done = subprocess.run(
            ["make", "--no-print-directory", "build"],
            check=False,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            raise RuntimeError("make build failed:\n" + (done.stdout + done.stderr)[-3000:])
        return ROOT / "build" / "rotation.zip", "make build"
    workdir = Path(tempfile.mkdtemp(prefix="bench-artifact-"))
    package = workdir / "package"
    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet",
            "--target", str(package), "--platform", "manylinux2014_aarch64",
            "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
            "aws-lambda-powertools", "pydantic", "redis",
        ],
        check=True,
        timeout=900,
    )  # fmt: skip
    subprocess.run(["cp", "-r", str(ROOT / "rotation"), str(package)], check=True)
    archive = workdir / "rotation.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(package.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(package))
    return archive, "pip install --target (mk/deploy.mk has no build target)"


def top_level(names: list[str]) -> set[str]:
    tops = set()
    for name in names:
        top = name.split("/", 1)[0]
        if top.endswith((".dist-info", ".data")):
            continue
        tops.add(top.removesuffix(".py"))
    return tops


def measure() -> Figure:
    archive, how = build()
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        unzipped = sum(info.file_size for info in infos)
        tops = top_level([info.filename for info in infos])
    size = archive.stat().st_size
    forbidden = sorted(tops & FORBIDDEN_TOP)
    ok = not forbidden and "rotation" in tops and size <= ZIP_LIMIT and unzipped <= UNZIPPED_LIMIT
    return Figure(
        "artifact: deployment package",
        f"{fmt_bytes(size)} zipped, {fmt_bytes(unzipped)} unzipped ({how}; contains "
        f"{', '.join(sorted(tops))}{'; FORBIDDEN: ' + ', '.join(forbidden) if forbidden else ''})",
        "only runtime dependencies: no boto3/botocore, dev tools, tests or sandbox",
        "Lambda limits 50 MB zipped / 250 MB unzipped",
        ok,
    )


if __name__ == "__main__":
    print(measure().line())
