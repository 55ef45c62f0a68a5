"""The build and check helpers behind mk/deploy.mk: what they accept is what ships."""

from __future__ import annotations

import re
import tomllib
import zipfile
from pathlib import Path

import pytest

from tools import deploy_tool

from .cfn import ROOT

ABI = "cpython-313-aarch64-linux-gnu"
GOOD_ZIP = {
    "rotation/__init__.py": "",
    "rotation/handler.py": "def lambda_handler(event, context): ...",
    "aws_lambda_powertools/__init__.py": "",
    "pydantic/__init__.py": "",
    f"pydantic_core/_pydantic_core.{ABI}.so": "",
    "aws_xray_sdk/__init__.py": "",
    # The project's version (tools/deploy_tool.py write_distribution_metadata).
    f"memorydb_rotation-{deploy_tool.project_version()}.dist-info/METADATA": (
        "Metadata-Version: 2.1\nName: memorydb-rotation\n"
        f"Version: {deploy_tool.project_version()}\n"
    ),
}


def _zip(tmp_path: Path, files: dict[str, str]) -> Path:
    archive = tmp_path / "rotation.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return archive


def test_a_complete_artifact_passes(tmp_path: Path) -> None:
    archive = _zip(tmp_path, GOOD_ZIP)

    assert deploy_tool.artifact_problems(archive, (ROOT / "template.yaml").read_text()) == []


@pytest.mark.parametrize(
    ("add", "remove"),
    [
        ({"tests/unit/test_rotator.py": ""}, None),
        ({"sandbox/demo.py": ""}, None),
        ({"boto3/__init__.py": ""}, None),
        ({"botocore/__init__.py": ""}, None),
        ({"rotation/__pycache__/handler.cpython-311.pyc": ""}, None),
        ({"rotation/handler.pyc": ""}, None),
        ({}, "rotation/handler.py"),
        (
            {"pydantic_core/_pydantic_core.cpython-313-x86_64-linux-gnu.so": ""},
            f"pydantic_core/_pydantic_core.{ABI}.so",
        ),
        (
            {"pydantic_core/_pydantic_core.cpython-311-aarch64-linux-gnu.so": ""},
            f"pydantic_core/_pydantic_core.{ABI}.so",
        ),
        ({"redis/__init__.py": ""}, None),
        ({}, "aws_xray_sdk/__init__.py"),
    ],
)
def test_an_artifact_that_must_not_ship_is_caught(
    tmp_path: Path, add: dict[str, str], remove: str | None
) -> None:
    files = {**GOOD_ZIP, **add}
    if remove:
        del files[remove]
    archive = _zip(tmp_path, files)

    assert deploy_tool.artifact_problems(archive, (ROOT / "template.yaml").read_text())


def test_the_x_ray_sdk_is_needed_only_while_tracing_can_be_enabled(tmp_path: Path) -> None:
    files = dict(GOOD_ZIP)
    del files["aws_xray_sdk/__init__.py"]
    archive = _zip(tmp_path, files)
    template = (ROOT / "template.yaml").read_text()
    without_tracing = template.replace(
        'AllowedValues: ["false", "true"]', 'AllowedValues: ["false"]'
    )

    assert without_tracing != template
    assert deploy_tool.artifact_problems(archive, template)
    assert deploy_tool.artifact_problems(archive, without_tracing) == []


FULL_LOCK = """\
aws-lambda-powertools==3.0.0 \\
    --hash=sha256:aa
    # via memorydb-rotation (pyproject.toml)
aws-xray-sdk==2.15.0 \\
    --hash=sha256:bb
    # via
    #   -c requirements/dev.lock.txt
    #   aws-lambda-powertools
botocore==1.44.8 \\
    --hash=sha256:cc
    # via aws-xray-sdk
jmespath==1.1.0 \\
    --hash=sha256:dd
    # via
    #   aws-lambda-powertools
    #   botocore
python-dateutil==2.9.0.post0 \\
    --hash=sha256:ee
    # via botocore
six==1.17.0 \\
    --hash=sha256:ff
    # via python-dateutil
urllib3==2.8.0 \\
    --hash=sha256:11
    # via botocore
wrapt==2.5.2 \\
    --hash=sha256:22
    # via aws-xray-sdk
"""


def _names(lock: str) -> list[str]:
    return [entry.name for entry in deploy_tool.parse_lock(lock)]


def test_the_runtime_lock_leaves_out_what_only_the_runtime_provided_packages_need() -> None:
    pruned = deploy_tool.prune_runtime_lock(FULL_LOCK)

    # jmespath stays: powertools needs it too. dateutil, six and urllib3 come only via botocore.
    assert _names(pruned) == ["aws-lambda-powertools", "aws-xray-sdk", "jmespath", "wrapt"]
    assert "--hash=sha256:22" in pruned
    assert "--hash=sha256:cc" not in pruned


def test_the_committed_locks_agree_with_pyproject_and_each_other() -> None:
    runtime = deploy_tool.parse_lock(deploy_tool.RUNTIME_LOCK.read_text())

    assert (
        deploy_tool.lock_problems(
            ROOT / "pyproject.toml",
            deploy_tool.RUNTIME_LOCK.read_text(),
            deploy_tool.DEV_LOCK.read_text(),
        )
        == []
    )
    assert {"aws-lambda-powertools", "aws-xray-sdk", "pydantic", "pydantic-core"} <= {
        entry.name for entry in runtime
    }
    # The verifier speaks AUTH over a TLS socket: redis-py stays with the tests.
    assert "redis" not in {entry.name for entry in runtime}
    assert not {"boto3", "botocore", "s3transfer", "urllib3"} & {entry.name for entry in runtime}


def test_the_tests_run_with_the_versions_the_artifact_ships() -> None:
    from importlib.metadata import version

    runtime = deploy_tool.parse_lock(deploy_tool.RUNTIME_LOCK.read_text())

    assert runtime
    assert {entry.name: entry.version for entry in runtime} == {
        entry.name: version(entry.name) for entry in runtime
    }


def test_botocore_is_pinned_exactly_for_the_fault_campaign() -> None:
    from importlib.metadata import version

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]

    assert f"botocore=={version('botocore')}" in dev["dev"]


@pytest.mark.parametrize(
    ("lock", "old", "new", "problem"),
    [
        ("runtime", "pydantic==", "pydantic==0.0.", "pydantic"),
        ("runtime", "pydantic-core==", "pydantic-core==9", "not what the tests run with"),
        ("runtime", "    --hash=sha256:", "    # hash removed ", "has no hash"),
        ("runtime", "wrapt==", "botocore==", "provided by the Lambda runtime"),
        ("dev", "moto==", "moto==4.0.0 ; python_version < '3'\nnot-moto==", "moto"),
        ("dev", "    --hash=sha256:", "    # hash removed ", "has no hash"),
    ],
)
def test_a_stale_or_wrong_lock_is_caught(lock: str, old: str, new: str, problem: str) -> None:
    texts = {
        "runtime": deploy_tool.RUNTIME_LOCK.read_text(),
        "dev": deploy_tool.DEV_LOCK.read_text(),
    }
    assert old in texts[lock]
    texts[lock] = texts[lock].replace(old, new)

    problems = deploy_tool.lock_problems(ROOT / "pyproject.toml", texts["runtime"], texts["dev"])

    assert any(problem in message for message in problems), problems


def test_a_dependency_added_without_make_lock_is_caught(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        (ROOT / "pyproject.toml")
        .read_text()
        .replace("dev = [\n", 'dev = [\n    "a-package-nobody-locked>=1",\n', 1)
    )

    problems = deploy_tool.lock_problems(
        pyproject, deploy_tool.RUNTIME_LOCK.read_text(), deploy_tool.DEV_LOCK.read_text()
    )

    assert problems == [
        "dev lock: a-package-nobody-locked>=1 is not met (nothing); run `make lock`"
    ]


def test_the_zip_is_reproducible(tmp_path: Path) -> None:
    source = tmp_path / "package"
    (source / "rotation").mkdir(parents=True)
    (source / "rotation" / "handler.py").write_text("x = 1\n")
    (source / "rotation" / "__init__.py").write_text("")

    first = deploy_tool.write_zip(source, tmp_path / "a.zip")
    (source / "rotation" / "handler.py").touch()
    second = deploy_tool.write_zip(source, tmp_path / "b.zip")

    assert first == second
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_package_copies_the_code_and_prunes_what_must_not_ship(tmp_path: Path) -> None:
    source = tmp_path / "rotation"
    (source / "__pycache__").mkdir(parents=True)
    (source / "handler.py").write_text("")
    (source / "__pycache__" / "handler.cpython-311.pyc").write_text("")
    target = tmp_path / "package"
    for name in ("botocore", "boto3-1.0.dist-info", "bin", "redis/__pycache__", "jp.dist-info"):
        (target / name).mkdir(parents=True)
    (target / "jp.dist-info" / "RECORD").write_text(
        "../../bin/jp.py,sha256=depends-on-the-venv-path,1714\njp/__init__.py,sha256=x,1\n"
    )

    deploy_tool.package(source, target)

    version = deploy_tool.project_version()
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "jp.dist-info",
        "jp.dist-info/RECORD",
        f"memorydb_rotation-{version}.dist-info",
        f"memorydb_rotation-{version}.dist-info/METADATA",
        "redis",
        "rotation",
        "rotation/handler.py",
    ]
    assert (target / "jp.dist-info" / "RECORD").read_text() == "jp/__init__.py,sha256=x,1\n"


def test_the_build_templates_point_at_the_artifact(tmp_path: Path) -> None:
    deploy_tool.render_build_templates(tmp_path)

    built = (tmp_path / "template.yaml").read_text()
    stack = (tmp_path / "example-stack.yaml").read_text()
    assert re.search(r"(?m)^      CodeUri: rotation\.zip$", built)
    assert re.search(r"(?m)^      Location: template\.yaml$", stack)
    assert (
        built.replace("CodeUri: rotation.zip", "CodeUri: .") == (ROOT / "template.yaml").read_text()
    )


def test_the_bad_fixture_declares_what_each_scanner_must_report() -> None:
    expected = deploy_tool.expected_findings(deploy_tool.BAD_TEMPLATE)

    assert set(expected) == {"cfn-lint", "checkov", "checkov-translated"}
    assert all(expected.values())
    # Rules written for the expanded resources: the reason the translated template is scanned.
    assert {"CKV_AWS_108", "CKV_AWS_111"} <= set(expected["checkov-translated"])


@pytest.mark.parametrize(
    ("reason", "flagged"),
    [("No comment provided", True), ("ok", True), ("", True), ("x" * 40, False)],
)
def test_a_suppression_needs_a_reason(reason: str, flagged: bool) -> None:
    result = deploy_tool.ScanResult(skipped=[("CKV_AWS_1", reason)])

    assert bool(deploy_tool.suppression_problems(result)) is flagged


def test_make_test_runs_the_template_checks() -> None:
    makefile = (ROOT / "mk" / "deploy.mk").read_text()

    assert re.search(r"(?m)^TEST_EXTRA_TARGETS \+= .*\bcheck-templates\b", makefile)
    assert re.search(r"(?m)^TEST_EXTRA_TARGETS \+= .*\bcheck-artifact\b", makefile)
    assert re.search(r"(?m)^TEST_EXTRA_TARGETS \+= .*\bcheck-reproducible\b", makefile)
