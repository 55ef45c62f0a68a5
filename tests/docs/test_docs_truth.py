"""The docs say what the code does: facts derived from `rotation/` (tests/docs/facts.py) checked
against README.md, CONTRIBUTING.md and docs/ (tests/docs/claims.py).

Links resolving is not enough: a stale list of operations, a settings table missing a variable or
a tree missing a module all have working links. The second half of this file breaks a copy of the
real text by hand and expects the check to name what broke, so none of the checks can pass
vacuously.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docs import claims, facts

ROOT = facts.ROOT
README = "README.md"
LAYOUT = "docs/layout.md"
DECISIONS = "docs/decisions.md"
SURFACE = "docs/sandbox-surface.md"
# The section titles the checks look for (renaming one is a change to this test too).
CALLS_SECTION = "What it calls"
SETTINGS_SECTION = "Settings"
# Docs that describe the verifier's exchange; the decision log keeps the superseded PING record,
# and docs/domain.md states why PING is not sent (a least-privilege user may not run it).
DESCRIBE_THE_VERIFIER = (README, LAYOUT, "docs/operate.md", "CONTRIBUTING.md", SURFACE)
MENTION_RETRIES = (README, "docs/operate.md", LAYOUT, "CONTRIBUTING.md")


def read(name: str) -> str:
    return (ROOT / name).read_text()


def _exists() -> dict[str, bool]:
    """Every tracked path and every folder above one: what a tree drawing may name."""
    present: dict[str, bool] = {}
    for name in facts.tracked_files():
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            present["/".join(parts[:depth])] = True
    return present


def _readme_problems(text: str) -> list[str]:
    ports = facts.ports()
    adapters = facts.adapters()
    metric_names, dimensions = facts.metrics()
    return [
        *claims.check_operations_table(
            text, facts.aws_operations(), document=README, title=CALLS_SECTION
        ),
        *claims.check_settings_table(
            text, facts.settings_variables(), document=README, title=SETTINGS_SECTION
        ),
        *claims.check_named(
            text, (p.name for p in ports), document=README, what="a port", source="rotation/"
        ),
        *claims.check_named(
            text,
            (f"adapters/{a.module}" for a in adapters),
            document=README,
            what="an adapter",
            source="rotation/adapters/",
        ),
        *claims.check_named(
            text,
            metric_names | dimensions,
            document=README,
            what="a metric or dimension the function publishes",
            source="rotation/",
        ),
        *claims.check_counts(
            text, {"ports": len(ports), "adapters": len(adapters)}, document=README
        ),
    ]


def _layout_problems(text: str) -> list[str]:
    ports = facts.ports()
    adapters = facts.adapters()
    return [
        *claims.check_tree(
            text,
            modules=facts.rotation_modules(),
            rooms=facts.rooms(),
            exists=_exists(),
            document=LAYOUT,
        ),
        *claims.check_module_lines(text, ports, adapters, document=LAYOUT),
        *claims.check_route_operations(text, facts.aws_operations(), document=LAYOUT),
        *claims.check_counts(
            text, {"ports": len(ports), "adapters": len(adapters)}, document=LAYOUT
        ),
    ]


# -- the real docs -------------------------------------------------------------------------------


def test_the_facts_are_found() -> None:
    """The derivation itself reads something: an empty fact set would make every check pass."""
    operations = facts.aws_operations()
    assert {"DescribeUsers", "UpdateUser", "PutSecretValue"} <= set().union(*operations.values())
    assert len(facts.ports()) >= 3
    assert all(adapter.implements for adapter in facts.adapters())
    assert "rotation/handler.py" in facts.rotation_modules()
    assert {"rotation", "tests", "docs"} <= set(facts.rooms())
    assert len(facts.settings_variables()) >= 9
    metric_names, dimensions = facts.metrics()
    assert "StepSucceeded" in metric_names
    assert "service" in dimensions


def test_the_readme_states_what_the_code_does() -> None:
    problems = _readme_problems(read(README))

    assert problems == [], "\n".join(problems)


def test_the_layout_doc_matches_the_tree_and_the_code() -> None:
    problems = _layout_problems(read(LAYOUT))

    assert problems == [], "\n".join(problems)


@pytest.mark.skipif(facts.sends_ping(), reason="the verifier sends PING: the docs may say so")
@pytest.mark.parametrize("name", DESCRIBE_THE_VERIFIER)
def test_no_doc_claims_a_ping(name: str) -> None:
    problems = claims.check_no_ping(read(name), document=name)

    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("name", MENTION_RETRIES)
def test_attempts_are_counted_as_the_code_counts_them(name: str) -> None:
    problems = claims.check_attempts(read(name), facts.api_attempts(), document=name)

    assert problems == [], "\n".join(problems)


def test_every_decision_record_has_a_status() -> None:
    problems = claims.check_decision_records(read(DECISIONS), document=DECISIONS)

    assert problems == [], "\n".join(problems)


def _docs_and_make_fragments() -> list[str]:
    return sorted(
        name
        for name in facts.tracked_files()
        if (name.endswith(".md") or name.startswith("mk/")) and name != "CHANGELOG.md"
    )


def test_no_doc_cites_an_issue_number() -> None:
    problems = [
        problem
        for name in _docs_and_make_fragments()
        for problem in claims.check_no_issue_numbers(read(name), document=name)
    ]

    assert problems == [], "\n".join(problems)


def test_every_public_sandbox_method_is_documented() -> None:
    text = read(SURFACE) + read("docs/sandbox.md")
    missing = [
        name for name in facts.sandbox_methods() if not re.search(rf"`[^`]*\b{name}\b", text)
    ]

    assert missing == [], (
        f"{SURFACE}: sandbox.Sandbox's public {', '.join(missing)} are in neither "
        f"{SURFACE} nor docs/sandbox.md; add a row for each"
    )


@pytest.mark.parametrize("name", ["CONTRIBUTING.md", "CHANGELOG.md"])
def test_the_new_top_level_docs_link_to_files_that_exist(name: str) -> None:
    text = read(name)
    targets = re.findall(r"(?<!!)\[[^\]]*\]\(([^)\s#]+)[^)]*\)", text)
    missing = [t for t in targets if not re.match(r"^[a-z]+:", t) and not (ROOT / t).exists()]

    assert targets
    assert missing == []


# -- the checks fail when a claim is broken by hand ------------------------------------------------


def _one_change(text: str, old: str, new: str) -> str:
    assert text.count(old) >= 1, f"the doc no longer contains {old!r}: update this test"
    return text.replace(old, new, 1)


def test_an_operation_removed_from_the_readme_is_named() -> None:
    module, operations = sorted(facts.aws_operations().items())[0]
    dropped = sorted(operations)[0]
    broken = _one_change(read(README), f"`{dropped}`", "")

    assert any(
        f"adapters/{module} omits {dropped}" in problem for problem in _readme_problems(broken)
    )


def test_an_operation_the_code_does_not_call_is_named() -> None:
    module, operations = sorted(facts.aws_operations().items())[0]
    listed = sorted(operations)[0]
    broken = _one_change(read(README), f"`{listed}`", f"`{listed}`, `DescribeEverything`")

    assert any(
        f"adapters/{module} lists DescribeEverything" in problem
        for problem in _readme_problems(broken)
    )


def test_a_variable_missing_from_the_settings_table_is_named() -> None:
    variable = next(v for v in facts.settings_variables() if v.default is None)
    text = read(README)
    rows = [line for line in text.splitlines() if line.startswith(f"| `{variable.name}`")]
    assert len(rows) == 1
    broken = _one_change(text, rows[0] + "\n", "")

    assert any(
        f"{variable.name} is read by rotation.settings.Settings but has no row" in problem
        for problem in _readme_problems(broken)
    )


def test_a_wrong_default_in_the_settings_table_is_named() -> None:
    variable = next(
        v
        for v in facts.settings_variables()
        if isinstance(v.default, int) and not isinstance(v.default, bool)
    )
    assert isinstance(variable.default, int)
    text = read(README)
    row = next(line for line in text.splitlines() if line.startswith(f"| `{variable.name}`"))
    wrong = row.replace(f"`{variable.default}`", f"`{variable.default + 1}`", 1)
    broken = _one_change(text, row, wrong)

    assert any(
        f"the default of {variable.name} is" in problem for problem in _readme_problems(broken)
    )


def test_a_variable_the_code_does_not_read_is_named() -> None:
    text = read(README)
    row = next(line for line in text.splitlines() if line.startswith("| `PASSWORD_LENGTH`"))
    broken = _one_change(text, row, row + "\n| `PASSWORD_SALT` | `x` | invented |")

    assert any("PASSWORD_SALT has a row" in problem for problem in _readme_problems(broken))


def test_a_port_or_adapter_the_readme_forgets_is_named() -> None:
    port = facts.ports()[0].name
    broken = re.sub(rf"\b{port}\b", "SomethingElse", read(README))

    assert f"{README}: never names {port}, a port in rotation/; describe it" in _readme_problems(
        broken
    )


def test_a_wrong_count_of_ports_is_named() -> None:
    count = len(facts.ports())
    broken = read(README) + f"\nThe rotator has {count + 1} ports.\n"

    assert any(f"the code has {count} ports" in problem for problem in _readme_problems(broken))


def test_a_metric_the_readme_forgets_is_named() -> None:
    broken = read(README).replace("OldPasswordDropped", "Dropped")

    assert any("never names OldPasswordDropped" in problem for problem in _readme_problems(broken))


def test_a_module_missing_from_the_layout_tree_is_named() -> None:
    text = read(LAYOUT)
    module = "rotation/waiting.py"
    line = next(line for line in text.splitlines() if line.strip().startswith("waiting.py"))
    broken = _one_change(text, line + "\n", "")

    assert any(
        f"{module} is missing; add `waiting.py` under rotation/" in problem
        for problem in _layout_problems(broken)
    )


def test_a_room_missing_from_the_layout_tree_is_named() -> None:
    text = read(LAYOUT)
    line = next(line for line in text.splitlines() if line.startswith("bench/"))
    broken = _one_change(text, line + "\n", "")

    assert any(
        "the top-level folder bench/ is missing" in problem for problem in _layout_problems(broken)
    )


def test_a_path_the_tree_invents_is_named() -> None:
    text = read(LAYOUT)
    line = next(line for line in text.splitlines() if line.startswith("bench/"))
    broken = _one_change(text, line, line + "\ncli/                 the old command line")

    assert any(
        "cli does not exist in the repository" in problem for problem in _layout_problems(broken)
    )


def test_a_port_missing_from_its_modules_line_is_named() -> None:
    port = next(p for p in facts.ports() if p.module == "rotation/ports.py")
    text = read(LAYOUT)
    line = next(line for line in text.splitlines() if line.strip().startswith("ports.py"))
    broken = _one_change(text, line, re.sub(rf"\b{port.name}\b", "", line))

    assert any(
        f"the line of rotation/ports.py does not name {port.name}" in problem
        for problem in _layout_problems(broken)
    )


def test_an_operation_missing_from_the_route_is_named() -> None:
    module, operations = sorted(facts.aws_operations().items())[-1]
    dropped = sorted(operations)[-1]
    text = read(LAYOUT)
    line = next(line for line in text.splitlines() if f"adapters/{module}" in line and "▶" in line)
    broken = _one_change(
        text, line, line.replace(dropped, "").replace("(, ", "(").replace(", )", ")")
    )

    assert any(
        f"adapters/{module}'s line omits {dropped}" in problem
        for problem in _layout_problems(broken)
    )


def test_a_claim_of_ping_is_named() -> None:
    broken = read(README) + "\nThen `PING`, to be sure.\n"

    problems = claims.check_no_ping(broken, document=README)

    assert len(problems) == 1
    assert "the verifier sends AUTH only" in problems[0]


def test_one_plus_n_attempts_is_named() -> None:
    attempts = facts.api_attempts()
    problems = claims.check_attempts(
        "botocore's retries (standard mode, 1 + 5 attempts with backoff)\n"
        f"botocore: {attempts + 2} attempts\n",
        attempts,
        document="x.md",
    )

    assert problems == [
        f"x.md:1: '1 + 5 attempts': rotation.adapters.aws makes {attempts} attempts in all "
        f"(total_max_attempts); write '{attempts} attempts'",
        f"x.md:2: '{attempts + 2} attempts', but rotation.adapters.aws makes {attempts}; "
        "correct it",
    ]


def test_an_issue_number_is_named() -> None:
    cited = "issue" + " 12"  # in two parts, so this file does not cite one itself
    problems = claims.check_no_issue_numbers(f"fine\nas {cited} asked\n", document="y.md")

    assert problems == [
        f"y.md:2: '{cited}': the repository has no tracker; say what the change was instead"
    ]


def test_a_record_without_status_or_with_a_dangling_successor_is_named() -> None:
    text = (
        "# Decisions\n\n## Keep A\nStatus: accepted\nwhy\n\n"
        "## Old B\nStatus: superseded by New B\nwhy\n\n"
        "## Old C\nStatus: superseded by Keep A\n\n## Untold D\nno status\n"
    )

    assert claims.check_decision_records(text, document="d.md") == [
        "d.md, 'Old B': superseded by 'New B', but there is no record with that title",
        "d.md, 'Untold D': needs exactly one line 'Status: accepted' or "
        "'Status: superseded by <title>' (found 0)",
    ]


def test_the_operation_finder_follows_a_forwarding_helper(tmp_path: Path) -> None:
    import ast

    source = (
        "def _pages(self, operation, method, **request):\n"
        "    return call(operation, method)\n"
        "def describe(self):\n"
        "    call('DescribeUsers', lambda: None)\n"
        "    self._pages('DescribeACLs', self.client.describe_acls, ACLName='a')\n"
    )

    assert facts.operations_in(ast.parse(source)) == {"DescribeUsers", "DescribeACLs"}
