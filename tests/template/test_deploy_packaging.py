"""Packaging for people who do not clone: the Serverless Application Repository metadata is
complete and points at files that exist, the licence is the one it names, and pyproject.toml,
the artifact, the template's SemanticVersion and the CLI's `--version` say the same version."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tools import deploy_tool

from .cfn import ROOT

SAR = "AWS::ServerlessRepo::Application"
# What `sam publish` needs, and the SAR API's limits on each (CreateApplication).
REQUIRED = (
    "Name",
    "Description",
    "Author",
    "SpdxLicenseId",
    "LicenseUrl",
    "ReadmeUrl",
    "Labels",
    "HomePageUrl",
    "SemanticVersion",
    "SourceCodeUrl",
)
LOCAL_FILES = ("LicenseUrl", "ReadmeUrl")
URLS = ("HomePageUrl", "SourceCodeUrl")
SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
LABEL = re.compile(r"^[a-zA-Z0-9+\-_:/@]{1,127}$")
NAME = re.compile(r"^[a-zA-Z0-9-]{1,140}$")


def pyproject_version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def sar_problems(template: dict[str, Any], root: Path = ROOT) -> list[str]:
    metadata = template.get("Metadata", {}).get(SAR)
    if not isinstance(metadata, dict):
        return [f"no Metadata.{SAR}"]
    problems = [f"{key} is missing or empty" for key in REQUIRED if not metadata.get(key)]
    for key in LOCAL_FILES:
        if metadata.get(key) and not (root / str(metadata[key])).is_file():
            problems.append(f"{key} names {metadata[key]}, which does not exist")
    for key in URLS:
        if metadata.get(key) and not str(metadata[key]).startswith("https://"):
            problems.append(f"{key} is not an https URL")
    if not NAME.fullmatch(str(metadata.get("Name", ""))):
        problems.append("Name: 1-140 letters, digits and hyphens")
    if len(str(metadata.get("Description", ""))) > 256:
        problems.append("Description is over 256 characters")
    labels = metadata.get("Labels") or []
    if len(labels) > 10 or not all(LABEL.fullmatch(str(label)) for label in labels):
        problems.append("Labels: at most 10, each 1-127 of [a-zA-Z0-9+-_:/@]")
    if not SEMVER.fullmatch(str(metadata.get("SemanticVersion", ""))):
        problems.append("SemanticVersion is not MAJOR.MINOR.PATCH")
    elif metadata["SemanticVersion"] != pyproject_version():
        problems.append(
            f"SemanticVersion {metadata['SemanticVersion']} is not pyproject.toml's "
            f"{pyproject_version()}"
        )
    licence = root / str(metadata.get("LicenseUrl", ""))
    if metadata.get("SpdxLicenseId") == "Apache-2.0" and licence.is_file():
        text = licence.read_text()
        if "Apache License" not in text or "Version 2.0, January 2004" not in text:
            problems.append(f"{metadata['LicenseUrl']} is not the Apache License 2.0")
    return problems


def test_the_serverless_repo_metadata_is_complete(template: dict[str, Any]) -> None:
    assert sar_problems(template) == []


@pytest.mark.parametrize(
    "mutation",
    [
        "no metadata",
        "no author",
        "missing readme",
        "http url",
        "bad version",
        "other version",
        "bad label",
        "other licence",
    ],
)
def test_incomplete_metadata_is_caught(
    template: dict[str, Any], mutation: str, tmp_path: Path
) -> None:
    metadata = template["Metadata"][SAR]
    root = ROOT
    if mutation == "no metadata":
        del template["Metadata"][SAR]
    elif mutation == "no author":
        metadata["Author"] = ""
    elif mutation == "missing readme":
        metadata["ReadmeUrl"] = "docs/no-such-readme.md"
    elif mutation == "http url":
        metadata["SourceCodeUrl"] = "http://example.com/src"
    elif mutation == "bad version":
        metadata["SemanticVersion"] = "v1"
    elif mutation == "other version":
        major, minor, patch = map(int, pyproject_version().split("."))
        metadata["SemanticVersion"] = f"{major}.{minor}.{patch + 1}"
    elif mutation == "bad label":
        metadata["Labels"] = ["has space"]
    else:
        (tmp_path / "LICENSE").write_text("MIT License\n")
        (tmp_path / "README.md").write_text("readme\n")
        root = tmp_path

    assert sar_problems(template, root)


def test_the_licence_is_apache_2_and_the_package_says_so() -> None:
    text = (ROOT / "LICENSE").read_text()

    assert text.startswith("Apache License") or text.lstrip().startswith("Apache License")
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text


# --- one version -------------------------------------------------------------------------------


def test_the_artifact_names_the_project_version(tmp_path: Path) -> None:
    """What `make build` puts in the zip beside rotation/: a dist-info with pyproject's version,
    which check-artifact checks in the real zip and importlib.metadata reads on Lambda."""
    package = tmp_path / "package"
    package.mkdir()
    deploy_tool.package(ROOT / "rotation", package)
    archive = tmp_path / "rotation.zip"
    deploy_tool.write_zip(package, archive)

    assert deploy_tool.artifact_version(archive) == pyproject_version()
    found = list(importlib.metadata.distributions(path=[str(package)]))
    assert [d.metadata["Name"] for d in found] == ["memorydb-rotation"]
    assert found[0].version == pyproject_version()


def test_a_zip_without_the_version_is_caught(tmp_path: Path) -> None:
    package = tmp_path / "package"
    deploy_tool.package(ROOT / "rotation", package)
    for info in package.glob("memorydb_rotation-*.dist-info"):
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: memorydb-rotation\n")
    archive = tmp_path / "rotation.zip"
    deploy_tool.write_zip(package, archive)

    problems = deploy_tool.artifact_problems(archive, (ROOT / "template.yaml").read_text())
    assert any("says version None" in problem for problem in problems)


def test_the_installed_distribution_and_the_template_agree(template: dict[str, Any]) -> None:
    assert importlib.metadata.version("memorydb-rotation") == pyproject_version()
    assert template["Metadata"][SAR]["SemanticVersion"] == pyproject_version()


def test_the_cli_reports_the_same_version() -> None:
    from typer.testing import CliRunner

    from memorydb_rotation_cli.app import app

    result = CliRunner().invoke(app, ["--version"])
    if result.exit_code != 0 and "No such option" in result.output:
        pytest.skip("the CLI has no --version yet (it reads importlib.metadata when it does)")
    assert result.exit_code == 0, result.output
    assert pyproject_version() in result.output.split()
