"""Build and check helpers behind mk/deploy.mk (not a test module: pytest does not collect it).

    python tools/deploy_tool.py prune-runtime-lock FULL LOCK   # `make lock`: the artifact's pins
    python tools/deploy_tool.py check-locks        # the locks agree with pyproject and each other
    python tools/deploy_tool.py lock-entry LOCK NAME   # one pin with its hashes (bootstraps uv)
    python tools/deploy_tool.py package DIR        # copy rotation/ into DIR, prune
    python tools/deploy_tool.py zip DIR ZIP        # reproducible zip, prints size and sha256
    python tools/deploy_tool.py same-bytes ZIP ZIP # `make check-reproducible`
    python tools/deploy_tool.py render-build-templates BUILD_DIR
    python tools/deploy_tool.py check-artifact ZIP
    python tools/deploy_tool.py check-templates    # cfn-lint + checkov, raw and translated
    python tools/deploy_tool.py scan-report        # checkov counts with/without skips

Every command but the last two uses only the standard library and `packaging` (the project's
.venv runs them). `check-templates` and `scan-report` need cfn-lint, checkov and
aws-sam-translator, which live in .venv-deploy so their pins cannot fight the project's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
DIST_NAME = "memorydb_rotation"
EXAMPLE_STACK = ROOT / "infra" / "example-stack.yaml"
BAD_TEMPLATE = ROOT / "tests" / "template" / "fixtures" / "bad-template.yaml"
CHECKS_DIR = ROOT / "build" / "checks"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock.txt"
DEV_LOCK = ROOT / "requirements" / "dev.lock.txt"

# The Lambda runtime ships these; the artifact must not (they would shadow the runtime's copy).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
# What must never reach the artifact: the project's tests, sandbox, tooling and caches.
FORBIDDEN_PREFIXES = (
    "tests/",
    "infra/",
    "sandbox/",
    "tools/",
    "bench/",
    "events/",
    "examples/",
    "docs/",
    "mk/",
    "build/",
    ".venv",
    *(f"{name}/" for name in RUNTIME_PROVIDED),
)
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024  # direct upload limit
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
MIN_SUPPRESSION_REASON = 20  # characters: "a reason", not "ok" or checkov's "No comment provided"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
TRACING_ALLOWED = re.compile(r'(?m)^  TracingEnabled:\n(?:    .*\n)*?    AllowedValues: \[.*"true"')


# --- the artifact ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockEntry:
    """One pinned distribution of a lock written by `uv pip compile --generate-hashes`."""

    name: str  # canonical
    version: str
    hashes: int
    parents: frozenset[str]  # canonical names; PYPROJECT for a direct dependency
    text: str  # the entry as uv wrote it (pin, hashes, `# via` comments)


# How uv names the project in `# via` comments: the entry is a direct dependency.
PYPROJECT = "(pyproject.toml)"


def canonicalize_name(name: str) -> str:
    """PEP 503's normalised name (as packaging.utils.canonicalize_name)."""
    return re.sub(r"[-_.]+", "-", name).lower()


_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def parse_lock(text: str) -> list[LockEntry]:
    """The entries of a uv lock, in order. A universal lock may pin one name twice (per marker).

    Standard library only: `make install` runs it with a bare venv to bootstrap uv.
    """
    blocks: list[tuple[re.Match[str], list[str]]] = []
    for line in text.splitlines():
        if match := _PIN.match(line):
            blocks.append((match, [line]))
        elif blocks and line.startswith("    "):
            blocks[-1][1].append(line)
    entries = []
    for match, block in blocks:
        parents = set()
        for line in block[1:]:
            comment = line.strip().removeprefix("#").strip()
            if not line.strip().startswith("#"):
                continue
            via = comment.removeprefix("via").strip() if comment.startswith("via") else comment
            if not via or via.startswith("-c ") or via.startswith("-r "):
                continue  # `# via` alone opens a list; constraint files are not parents
            parents.add(PYPROJECT if via.endswith(PYPROJECT) else canonicalize_name(via))
        entries.append(
            LockEntry(
                name=canonicalize_name(match.group(1)),
                version=match.group(2),
                hashes=sum(line.strip().startswith("--hash=") for line in block),
                parents=frozenset(parents),
                text="\n".join(block),
            )
        )
    return entries


RUNTIME_LOCK_HEADER = """\
# The Lambda artifact's dependencies: Python 3.13 on arm64, exact versions and hashes; `make build`
# installs exactly these with --no-deps. Written by `make lock`: uv resolves pyproject.toml's
# dependencies for the Lambda inside requirements/dev.lock.txt's versions (what the tests run
# with), then tools/deploy_tool.py drops boto3, botocore, s3transfer and what only they need: the
# Lambda runtime provides them, and a copy here would shadow the runtime's.
"""


def prune_runtime_lock(text: str) -> str:
    """Keep what the function needs and the Lambda runtime does not provide.

    A distribution stays when pyproject.toml asks for it, or when something that stays needs it;
    reached only through the runtime-provided packages (urllib3, python-dateutil, six through
    botocore), it goes.
    """
    entries = parse_lock(text)
    kept: set[str] = set()
    changed = True
    while changed:
        changed = False
        for entry in entries:
            if entry.name in RUNTIME_PROVIDED or entry.name in kept:
                continue
            if PYPROJECT in entry.parents or entry.parents & kept:
                kept.add(entry.name)
                changed = True
    return RUNTIME_LOCK_HEADER + "".join(
        entry.text + "\n" for entry in entries if entry.name in kept
    )


def lock_problems(pyproject: Path, runtime_lock: str, dev_lock: str) -> list[str]:
    """Why the locks cannot be installed as they are: a pin outside pyproject.toml's ranges or
    missing (pyproject changed, `make lock` did not run), a pin without hashes, a runtime pin the
    tests did not run with, or a runtime-provided package in the artifact's lock."""
    from packaging.requirements import Requirement

    project = tomllib.loads(pyproject.read_text())["project"]
    runtime = {entry.name: entry for entry in parse_lock(runtime_lock)}
    dev: dict[str, set[str]] = {}
    problems = []
    for entry in parse_lock(dev_lock):
        dev.setdefault(entry.name, set()).add(entry.version)
        if not entry.hashes:
            problems.append(f"dev lock: {entry.name} has no hash")
    extras = project["optional-dependencies"]
    own_name = canonicalize_name(project["name"])

    def expanded(specs: list[str]) -> list[str]:
        """An extra may name the project's own extras (`memorydb-rotation[cli]`): their specs."""
        found = []
        for spec in specs:
            requirement = Requirement(spec)
            if canonicalize_name(requirement.name) == own_name:
                found += expanded([s for extra in requirement.extras for s in extras[extra]])
            else:
                found.append(spec)
        return found

    wanted = [
        ("runtime", runtime_spec, {name: {e.version} for name, e in runtime.items()})
        for runtime_spec in project["dependencies"]
    ] + [("dev", spec, dev) for spec in expanded([*project["dependencies"], *extras["dev"]])]
    for lock_name, spec, pins in wanted:
        requirement = Requirement(spec)
        versions = pins.get(canonicalize_name(requirement.name), set())
        if not any(requirement.specifier.contains(v, prereleases=True) for v in versions):
            found = ", ".join(sorted(versions)) or "nothing"
            problems.append(f"{lock_name} lock: {spec} is not met ({found}); run `make lock`")
    for entry in runtime.values():
        if entry.name in RUNTIME_PROVIDED:
            problems.append(f"runtime lock: {entry.name} is provided by the Lambda runtime")
        if not entry.hashes:
            problems.append(f"runtime lock: {entry.name} has no hash")
        if entry.version not in dev.get(entry.name, set()):
            problems.append(
                f"runtime lock: {entry.name}=={entry.version} is not what the tests run with "
                f"(dev lock: {', '.join(sorted(dev.get(entry.name, set()))) or 'absent'})"
            )
    return problems


def package(source: Path, target: Path) -> None:
    """Copy the function's code into `target` (beside the pip-installed dependencies) and prune
    what must not ship: caches, console scripts and anything the runtime provides."""
    for name in RUNTIME_PROVIDED:
        for path in target.glob(f"{name}"):
            shutil.rmtree(path)
        for path in target.glob(f"{name}-*.dist-info"):
            shutil.rmtree(path)
    shutil.rmtree(target / "bin", ignore_errors=True)
    # pip rewrites a console script's shebang to the installing interpreter's absolute path and
    # records the script's hash in RECORD: a line about a file that does not ship, which made the
    # zip depend on where the build's virtualenv lives.
    for record in target.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        record.write_text("".join(line for line in lines if not line.startswith("../")))
    destination = target / source.name
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    write_distribution_metadata(target)
    for cache in list(target.rglob("__pycache__")):
        shutil.rmtree(cache)
    for compiled in target.rglob("*.pyc"):
        compiled.unlink()


def project_version(pyproject: Path = ROOT / "pyproject.toml") -> str:
    version: str = tomllib.loads(pyproject.read_text())["project"]["version"]
    return version


def write_distribution_metadata(target: Path) -> Path:
    """The project's own dist-info beside its code: the artifact says which version it is, and
    `importlib.metadata.version("memorydb-rotation")` answers inside the function as it does for
    the CLI (the template's SemanticVersion and pyproject.toml's version are the same)."""
    for stale in target.glob(f"{DIST_NAME}-*.dist-info"):
        shutil.rmtree(stale)
    version = project_version()
    info = target / f"{DIST_NAME}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: memorydb-rotation\nVersion: {version}\n"
        "License-Expression: Apache-2.0\n"
    )
    return info


def artifact_version(archive: Path) -> str | None:
    """The version the zip's dist-info names, or None when it has none."""
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            if name.startswith(f"{DIST_NAME}-") and name.endswith(".dist-info/METADATA"):
                for line in zf.read(name).decode().splitlines():
                    if line.startswith("Version: "):
                        return line.removeprefix("Version: ").strip()
    return None


def write_zip(source: Path, archive: Path) -> int:
    """Zip `source` with sorted entries and fixed timestamps: the same input, the same bytes."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(source).as_posix(), date_time=ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return archive.stat().st_size


def render_build_templates(build_dir: Path) -> None:
    """build/template.yaml points CodeUri at the zip; build/example-stack.yaml at that template,
    so `sam deploy -t build/...` and `aws cloudformation package` work without `sam build`."""
    text = TEMPLATE.read_text()
    rendered, count = re.subn(r"(?m)^(\s+CodeUri:) \.$", r"\1 rotation.zip", text)
    if count != 1:
        raise SystemExit("template.yaml: expected exactly one `CodeUri: .` line")
    (build_dir / "template.yaml").write_text(rendered)
    stack, count = re.subn(
        r"(?m)^(\s+Location:) \.\./template\.yaml$", r"\1 template.yaml", EXAMPLE_STACK.read_text()
    )
    if count != 1:
        raise SystemExit("infra/example-stack.yaml: expected one `Location: ../template.yaml`")
    (build_dir / "example-stack.yaml").write_text(stack)


def artifact_problems(archive: Path, template_text: str) -> list[str]:
    """What is wrong with the zip: missing handler or native wheel, shipped tests, oversize."""
    handler = re.search(r"(?m)^\s+Handler: (\S+)$", template_text)
    runtime = re.search(r"(?m)^\s+Runtime: python(\d)\.(\d+)$", template_text)
    if handler is None or runtime is None:
        return ["template.yaml has no Handler/Runtime line"]
    module, _, _ = handler.group(1).rpartition(".")
    abi = f"cpython-{runtime.group(1)}{runtime.group(2)}-aarch64-linux-gnu"
    # Bytecode for the runtime's own Python spares every cold start a compile (/var/task is
    # read-only, so it is never cached there); bytecode of any other Python is dead weight.
    bytecode = f".cpython-{runtime.group(1)}{runtime.group(2)}.pyc"
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
    names = {info.filename for info in infos}
    problems = []
    handler_file = module.replace(".", "/") + ".py"
    if handler_file not in names:
        problems.append(f"the handler module {handler_file} is missing")
    for package_dir in ("aws_lambda_powertools/", "pydantic/", "pydantic_core/"):
        if not any(name.startswith(package_dir) for name in names):
            problems.append(f"runtime dependency {package_dir} is missing")
    if not any(name.startswith("pydantic_core/") and abi in name for name in names):
        problems.append(f"pydantic_core has no {abi} extension (wrong platform or Python)")
    # The verifier speaks AUTH over a TLS socket: redis-py is no runtime dependency any more.
    if any(name.startswith("redis/") for name in names):
        problems.append("redis-py is in the artifact, but the function never imports it")
    # TRACING_ENABLED=true builds Powertools' Tracer, which imports the X-Ray SDK.
    if TRACING_ALLOWED.search(template_text) and not any(
        name.startswith("aws_xray_sdk/") for name in names
    ):
        problems.append(
            "the template allows TracingEnabled=true but aws_xray_sdk is not shipped: "
            "the runtime dependency must be aws-lambda-powertools[tracer]"
        )
    problems.extend(
        f"{name} must not ship"
        for name in sorted(names)
        if name.startswith(FORBIDDEN_PREFIXES)
        or (name.endswith(".pyc") and not (_in_pycache(name) and name.endswith(bytecode)))
    )
    if (shipped := artifact_version(archive)) != project_version():
        problems.append(f"the zip says version {shipped}, pyproject.toml {project_version()}")
    if archive.stat().st_size > LAMBDA_ZIP_LIMIT:
        problems.append("the zip is over Lambda's 50 MB direct upload limit")
    if sum(info.file_size for info in infos) > LAMBDA_UNZIPPED_LIMIT:
        problems.append("the unzipped package is over Lambda's 250 MB limit")
    return problems


def _in_pycache(name: str) -> bool:
    return name.startswith("__pycache__/") or "/__pycache__/" in name


def describe_size(size: int) -> str:
    return f"{size} bytes ({size / 1024 / 1024:.2f} MiB)"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- translation -------------------------------------------------------------------------------


class _NoManagedPolicies:
    """The translator asks IAM for managed policy ARNs only for policies named by name; these
    templates name none, so the lookup stays offline."""

    def load(self) -> dict[str, str]:
        return {}


def translate(source: Path, destination: Path) -> None:
    """SAM to plain CloudFormation, offline: the local CodeUri/Location that `sam package` would
    upload are replaced by placeholder S3 locations first, as the real transform receives them."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    # The translator warns about metrics nobody publishes here; that is noise, not a finding.
    logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)
    from samtranslator.translator.transform import (  # type: ignore[import-not-found]
        transform,
    )
    from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-not-found]

    template: dict[str, Any] = yaml_parse(source.read_text())
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function":
            code = properties.get("CodeUri")
            if isinstance(code, str) and not code.startswith("s3://"):
                properties["CodeUri"] = "s3://placeholder-sam-package-bucket/function.zip"
        if resource.get("Type") == "AWS::Serverless::Application":
            location = properties.get("Location")
            if isinstance(location, str) and not location.startswith("https://"):
                properties["Location"] = (
                    "https://placeholder-sam-package-bucket.s3.amazonaws.com/template.yaml"
                )
    translated = transform(template, {}, _NoManagedPolicies(), passthrough_metadata=True)
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(translated, indent=1, sort_keys=True) + "\n")


# --- scanners ----------------------------------------------------------------------------------


def _tool(name: str) -> str:
    """The console script beside this interpreter (.venv-deploy/bin/NAME)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def cfn_lint(paths: Sequence[Path]) -> dict[Path, list[str]]:
    """Rule IDs cfn-lint reports per file (errors and warnings; informational rules are off)."""
    result = subprocess.run(
        [_tool("cfn-lint"), "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 2, 4, 6) or not result.stdout.strip():
        raise SystemExit(f"cfn-lint did not run ({result.returncode}): {result.stderr.strip()}")
    findings: dict[Path, list[str]] = {path: [] for path in paths}
    for match in json.loads(result.stdout):
        path = Path(match["Filename"]).resolve()
        line = match["Location"]["Start"]["LineNumber"]
        findings.setdefault(path, []).append(
            f"{match['Rule']['Id']} {match['Message']} (line {line})"
        )
    return {path.resolve(): findings.get(path.resolve(), []) for path in paths}


@dataclass
class ScanResult:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (check id, reason)

    @property
    def failed_ids(self) -> set[str]:
        return {entry.split(" ", 1)[0] for entry in self.failed}


def checkov(paths: Sequence[Path]) -> dict[Path, ScanResult]:
    """Run checkov's CloudFormation checks offline; fail loudly on a parse error, since a file
    checkov cannot parse is a file it silently passes."""
    command = [_tool("checkov"), "--framework", "cloudformation", "--skip-download", "-o", "json"]
    for path in paths:
        command += ["-f", str(path)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"checkov did not run ({result.returncode}): {result.stderr.strip()}")
    reports = json.loads(result.stdout)
    if isinstance(reports, dict):
        reports = [reports]
    results: dict[Path, ScanResult] = {path.resolve(): ScanResult() for path in paths}
    for report in reports:
        if report.get("summary", {}).get("parsing_errors"):
            raise SystemExit(f"checkov could not parse: {report['results'].get('parsing_errors')}")
        for check in report["results"]["passed_checks"]:
            _result_for(results, check).passed.append(check["check_id"])
        for check in report["results"]["failed_checks"]:
            _result_for(results, check).failed.append(
                f"{check['check_id']} {check['resource']}: {check['check_name']}"
            )
        for check in report["results"]["skipped_checks"]:
            reason = check["check_result"].get("suppress_comment") or ""
            _result_for(results, check).skipped.append((check["check_id"], reason))
    return results


def _result_for(results: dict[Path, ScanResult], check: dict[str, Any]) -> ScanResult:
    path = Path(check["file_abs_path"]).resolve()
    if path not in results:
        raise SystemExit(f"checkov reported a file it was not given: {path}")
    return results[path]


def suppression_problems(result: ScanResult) -> list[str]:
    return [
        f"{check_id} is suppressed without a reason (Metadata.checkov.skip[].comment)"
        for check_id, reason in result.skipped
        if len(reason.strip()) < MIN_SUPPRESSION_REASON or reason == "No comment provided"
    ]


def expected_findings(template_path: Path) -> dict[str, list[str]]:
    """The bad fixture lists what each scanner must report in Metadata.ExpectedFindings."""
    match = re.search(r"(?ms)^  ExpectedFindings:\n(.*?)^\S", template_path.read_text())
    if match is None:
        raise SystemExit(f"{template_path}: no Metadata.ExpectedFindings")
    findings: dict[str, list[str]] = {}
    for line in match.group(1).splitlines():
        key, _, value = line.strip().partition(":")
        if value.strip().startswith("["):
            findings[key] = [item.strip() for item in value.strip(" []").split(",") if item.strip()]
    return findings


def strip_suppressions(source: Path, destination: Path) -> None:
    """A copy without the checkov skips (for the before/after counts of `scan-report`)."""
    if source.suffix == ".json":
        document = json.loads(source.read_text())
        for resource in document.get("Resources", {}).values():
            resource.get("Metadata", {}).pop("checkov", None)
        destination.write_text(json.dumps(document, indent=1))
        return
    lines = source.read_text().splitlines(keepends=True)
    kept, skipping_indent = [], None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if skipping_indent is not None and (not line.strip() or indent > skipping_indent):
            continue
        skipping_indent = None
        if line.strip() == "checkov:":
            skipping_indent = indent
            continue
        kept.append(line)
    destination.write_text("".join(kept))


# --- the checks `make check-templates` runs ---------------------------------------------------


def _rel(path: Path) -> str:
    return str(path.resolve().relative_to(ROOT))


# checkov evaluates conditions with the parameters' defaults and leaves out every resource whose
# condition is then false (TracingPolicy, OldPasswordPolicy=drop-after's scheduler resources).
# The scanners therefore also read a copy of template.yaml whose defaults switch those on.
ALL_FEATURES = {"OldPasswordPolicy": "drop-after", "TracingEnabled": '"true"'}
# The example stack's conditional resources: drop-after's Scheduler endpoint, the IPv6 network.
EXAMPLE_ALL_FEATURES = {"OldPasswordPolicy": "drop-after", "IpDiscovery": "ipv6"}


def all_features(source: Path, destination: Path, features: dict[str, str] | None = None) -> None:
    text = source.read_text()
    # A copy elsewhere must still find the nested application it names.
    nested = os.path.relpath(TEMPLATE, destination.parent)
    text = text.replace("Location: ../template.yaml", f"Location: {nested}")
    for name, value in (ALL_FEATURES if features is None else features).items():
        pattern = rf"(?m)^(  {name}:\n(?:    .*\n)*?    Default: ).*$"
        text, count = re.subn(pattern, r"\g<1>" + value.replace("\\", r"\\"), text, count=1)
        if count != 1:
            raise SystemExit(f"{_rel(source)}: parameter {name} has no Default to switch on")
    destination.write_text(text)


def check_templates() -> int:
    failures: list[str] = []
    CHECKS_DIR.mkdir(parents=True, exist_ok=True)
    featured = CHECKS_DIR / "template.all-features.yaml"
    all_features(TEMPLATE, featured)
    featured_example = CHECKS_DIR / "example-stack.all-features.yaml"
    all_features(EXAMPLE_STACK, featured_example, EXAMPLE_ALL_FEATURES)
    good = [TEMPLATE, featured, EXAMPLE_STACK, featured_example]
    translated = {path: CHECKS_DIR / f"{path.stem}.translated.json" for path in good}
    bad_translated = CHECKS_DIR / "bad-template.translated.json"
    for source, destination in [*translated.items(), (BAD_TEMPLATE, bad_translated)]:
        translate(source, destination)
        print(f"translated {_rel(source)} -> {_rel(destination)}")

    scanned = [*good, *translated.values()]
    print("\ncfn-lint")
    lint = cfn_lint([*scanned, BAD_TEMPLATE])
    for path in scanned:
        findings = lint[path.resolve()]
        print(f"  {_rel(path):50} {'clean' if not findings else f'{len(findings)} finding(s)'}")
        failures += [f"cfn-lint {_rel(path)}: {finding}" for finding in findings]

    print("\ncheckov (cloudformation)                            passed failed skipped")
    scans = checkov([*scanned, BAD_TEMPLATE, bad_translated])
    for path in scanned:
        result = scans[path.resolve()]
        print(
            f"  {_rel(path):50} {len(result.passed):6} {len(result.failed):6} "
            f"{len(result.skipped):7}"
        )
        failures += [f"checkov {_rel(path)}: {finding}" for finding in result.failed]
        failures += [f"checkov {_rel(path)}: {problem}" for problem in suppression_problems(result)]
        if not result.passed:
            failures.append(f"checkov {_rel(path)}: no check passed, so none ran (silent skip?)")

    print(f"\nthe bad fixture ({_rel(BAD_TEMPLATE)}) must be flagged")
    expected = expected_findings(BAD_TEMPLATE)
    lint_ids = {finding.split(" ", 1)[0] for finding in lint[BAD_TEMPLATE.resolve()]}
    observed = {
        "cfn-lint": lint_ids,
        "checkov": scans[BAD_TEMPLATE.resolve()].failed_ids,
        "checkov-translated": scans[bad_translated.resolve()].failed_ids,
    }
    for scanner in ("cfn-lint", "checkov", "checkov-translated"):
        wanted = set(expected.get(scanner, []))
        missing = wanted - observed[scanner]
        if not wanted:
            failures.append(f"bad fixture: ExpectedFindings.{scanner} is empty")
        status = "flagged" if not missing else f"MISSED {sorted(missing)}"
        print(f"  {scanner:20} {status}: {', '.join(sorted(wanted))}")
        failures += [f"bad fixture: {scanner} no longer reports {check}" for check in missing]
    if not suppression_problems(scans[BAD_TEMPLATE.resolve()]):
        failures.append("bad fixture: a skip without a reason was not flagged")
    else:
        print("  suppression hygiene  flagged: a skip without a reason")

    if failures:
        print("\nFAILED:", *failures, sep="\n  ")
        return 1
    print("\ntemplates: all checks passed")
    return 0


def scan_report() -> int:
    """checkov counts per file, with and without the inline suppressions (for the decision log)."""
    CHECKS_DIR.mkdir(parents=True, exist_ok=True)
    rows = []
    for source in (TEMPLATE, EXAMPLE_STACK):
        translated = CHECKS_DIR / f"{source.stem}.translated.json"
        translate(source, translated)
        for path in (source, translated):
            bare = CHECKS_DIR / f"unsuppressed-{path.name}"
            strip_suppressions(path, bare)
            rows.append((path, bare))
    after = checkov([path for path, _ in rows])
    before = checkov([bare for _, bare in rows])
    print("checkov findings                               without skips   with skips")
    for path, bare in rows:
        final = after[path.resolve()]
        print(
            f"  {_rel(path):50} {len(before[bare.resolve()].failed):>7} failed   "
            f"{len(final.failed)} failed, {len(final.skipped)} skipped"
        )
        for finding in sorted(before[bare.resolve()].failed):
            print(f"      {finding}")
    return 0


# --- command line ------------------------------------------------------------------------------


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    prune = commands.add_parser("prune-runtime-lock")
    prune.add_argument("full", type=Path)
    prune.add_argument("lock", type=Path)
    commands.add_parser("check-locks")
    entry_cmd = commands.add_parser("lock-entry")
    entry_cmd.add_argument("lock", type=Path)
    entry_cmd.add_argument("name")
    same = commands.add_parser("same-bytes")
    same.add_argument("first", type=Path)
    same.add_argument("second", type=Path)
    package_cmd = commands.add_parser("package")
    package_cmd.add_argument("target", type=Path)
    zip_cmd = commands.add_parser("zip")
    zip_cmd.add_argument("source", type=Path)
    zip_cmd.add_argument("archive", type=Path)
    render = commands.add_parser("render-build-templates")
    render.add_argument("build_dir", type=Path)
    artifact = commands.add_parser("check-artifact")
    artifact.add_argument("archive", type=Path)
    commands.add_parser("check-templates")
    commands.add_parser("scan-report")
    args = parser.parse_args(None if argv is None else list(argv))

    problems: list[str] = []
    if args.command == "prune-runtime-lock":
        args.lock.write_text(prune_runtime_lock(args.full.read_text()))
    elif args.command == "check-locks":
        problems = lock_problems(
            ROOT / "pyproject.toml", RUNTIME_LOCK.read_text(), DEV_LOCK.read_text()
        )
    elif args.command == "lock-entry":
        found = [e.text for e in parse_lock(args.lock.read_text()) if e.name == args.name]
        if len(found) == 1:
            print(found[0].rstrip(" \\"))
        else:
            problems = [f"{args.lock}: {len(found)} entries for {args.name}, expected one"]
    elif args.command == "same-bytes":
        first, second = sha256(args.first), sha256(args.second)
        print(f"reproducible: {first} {args.first}")
        print(f"reproducible: {second} {args.second}")
        if first != second:
            problems = ["reproducible: FAILED, two builds of one tree differ"]
    elif args.command == "package":
        package(ROOT / "rotation", args.target)
    elif args.command == "zip":
        size = write_zip(args.source, args.archive)
        print(f"artifact: {args.archive} {describe_size(size)} sha256 {sha256(args.archive)}")
    elif args.command == "render-build-templates":
        render_build_templates(args.build_dir)
    elif args.command == "check-artifact":
        problems = [f"artifact: {p}" for p in artifact_problems(args.archive, TEMPLATE.read_text())]
        if not problems:
            print(f"artifact: {args.archive} ok, {describe_size(args.archive.stat().st_size)}")
    elif args.command == "check-templates":
        return check_templates()
    elif args.command == "scan-report":
        return scan_report()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
