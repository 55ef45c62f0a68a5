"""The command line installed as an operator installs it: the project's wheel with its `cli`
extra, by pip, into an empty virtualenv outside the repository. It proves the extra brings what
the runtime leaves to Lambda (boto3) and that nothing imports from the source tree.

It builds a wheel and installs from the package index (pip's cache keeps it to seconds), so it
runs under `make check-cli-install` (part of `make test`), not in every pytest run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

from memorydb_rotation_cli.documents import COMMANDS, load_schema

ROOT = Path(__file__).resolve().parents[2]
GATE = "MEMORYDB_ROTATION_CHECK_INSTALL"

pytestmark = pytest.mark.skipif(
    os.environ.get(GATE) != "1", reason=f"runs under make check-cli-install ({GATE}=1)"
)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_pip_install_of_the_cli_extra_into_an_empty_venv_runs(tmp_path: Path) -> None:
    assert not tmp_path.resolve().is_relative_to(ROOT)
    # The wheel, built with the dev venv's setuptools (the lock's), as `python -m build` would.
    uv = Path(sys.executable).parent / "uv"
    dist = tmp_path / "dist"
    build = [str(uv), "build", "--wheel", "--no-build-isolation", "--python", sys.executable]
    built = subprocess.run(
        [*build, "-o", str(dist), str(ROOT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("memorydb_rotation-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names}
    # The --json documents' schemas are package data of the wheel.
    assert {n for n in names if n.endswith(".schema.json")} == {
        f"memorydb_rotation_cli/schemas/{command}.schema.json" for command in COMMANDS
    }
    assert packages == {
        "rotation",
        "memorydb_rotation_cli",
        wheel.name.split("-py3")[0] + ".dist-info",
    }

    # An environment with nothing of this machine's AWS set-up or of the repository in it.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }
    # pip's own configuration (index, cache, certificates) is the machine's, as an operator's is.
    env.update({k: v for k, v in os.environ.items() if k.startswith("PIP_")})
    # HOME is moved away from AWS files; pip's cache stays where this user's pip keeps it.
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    venv = tmp_path / "venv"
    created = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    assert created.returncode == 0, created.stderr
    python, script = venv / "bin" / "python", venv / "bin" / "memorydb-rotation"
    installed = _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"{wheel}[cli]",
        ],
        tmp_path,
        env,
    )
    assert installed.returncode == 0, installed.stderr

    shown = _run([str(script), "--version"], tmp_path, env)
    assert (shown.returncode, shown.stdout.strip()) == (
        0,
        f"memorydb-rotation {version('memorydb-rotation')}",
    )
    where = _run(
        [
            str(python),
            "-c",
            "import memorydb_rotation_cli, rotation, boto3; "
            "print(memorydb_rotation_cli.__file__); print(rotation.__file__)",
        ],
        tmp_path,
        env,
    )
    assert where.returncode == 0, where.stderr
    for path in where.stdout.split():
        assert Path(path).is_relative_to(venv)
    # Installed, each schema is found through the package and is the repository's file.
    schemas = _run(
        [
            str(python),
            "-c",
            "import json; from memorydb_rotation_cli.documents import COMMANDS, load_schema; "
            "print(json.dumps({c: load_schema(c) for c in COMMANDS}))",
        ],
        tmp_path,
        env,
    )
    assert schemas.returncode == 0, schemas.stderr
    assert json.loads(schemas.stdout) == {c: load_schema(c) for c in COMMANDS}
    # A command that reaches boto3: no credentials anywhere, so the clear line and exit 2.
    status = _run([str(script), "status", "some-secret", "--region", "eu-west-1"], tmp_path, env)
    assert status.returncode == 2, status.stderr
    assert "no AWS credentials" in status.stderr
    assert "Traceback" not in status.stderr
