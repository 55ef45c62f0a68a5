"""The build and check helpers behind mk/deploy.mk: what they accept is what ships."""

from __future__ import annotations

import re
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
    "redis/__init__.py": "",
    "aws_xray_sdk/__init__.py": "",
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
        ({}, "redis/__init__.py"),
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


def test_the_requirements_pin_the_tested_closure_without_boto3() -> None:
    from importlib.metadata import version

    pins = dict(
        line.split("==") for line in deploy_tool.runtime_requirements(ROOT / "pyproject.toml")
    )

    assert {"aws-lambda-powertools", "pydantic", "pydantic-core", "redis"} <= set(pins)
    assert pins["pydantic-core"] == version("pydantic-core")
    assert pins["pydantic"] == version("pydantic")
    assert not {"boto3", "botocore", "s3transfer"} & set(pins)


def test_the_requirements_follow_extras_but_not_the_runtime_provided(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\nversion = "0"\n'
        'dependencies = ["aws-lambda-powertools[tracer]>=3,<4", "boto3"]\n'
    )

    pins = dict(line.split("==") for line in deploy_tool.runtime_requirements(pyproject))

    assert "aws-xray-sdk" in pins
    assert "wrapt" in pins
    assert "botocore" not in pins
    assert "boto3" not in pins


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
    for name in ("botocore", "boto3-1.0.dist-info", "bin", "redis/__pycache__"):
        (target / name).mkdir(parents=True)

    deploy_tool.package(source, target)

    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "redis",
        "rotation",
        "rotation/handler.py",
    ]


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
