"""The mutation engine finds each mutant by its pattern inside one function, or says it is stale;
the catalogue loader refuses an entry it cannot read, naming it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.mutation import mutants

SOURCE = textwrap.dedent(
    """\
    class Rotator:
        def guard(self, meta):
            if not meta.enabled:
                raise ValueError("disabled")
            return meta

        def other(self, meta):
            if not meta.enabled:
                return None
            return meta


    def swap(a, b):
        first = a
        second = b
        return first, second
    """
)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mod.py").write_text(SOURCE)
    monkeypatch.setattr(mutants, "ROOT", tmp_path)
    return tmp_path


def _mutant(function: str, find: str, replace: str) -> mutants.Mutant:
    return mutants.Mutant("id", "area", "mod.py", function, find, replace, "what")


def test_the_pattern_is_looked_for_in_the_named_function_only(root: Path) -> None:
    applied = mutants.apply(_mutant("Rotator.guard", "if not meta.enabled:", "if False:"))

    assert applied.problem == ""
    assert applied.source.count("if False:") == 1
    # The same text in Rotator.other is untouched.
    assert "def other(self, meta):\n        if not meta.enabled:" in applied.source


def test_whitespace_in_a_pattern_matches_any_whitespace(root: Path) -> None:
    applied = mutants.apply(_mutant("swap", "first = a   second = b", "second = b\nfirst = a"))

    assert applied.problem == ""
    assert "    second = b\n    first = a\n" in applied.source


@pytest.mark.parametrize(
    ("function", "find", "says"),
    [
        ("Rotator.gone", "if not meta.enabled:", "no function Rotator.gone"),
        ("Rotator.guard", "if meta.disabled:", "found 0 times"),
        ("Rotator.guard", "meta", "found 3 times"),
        ("Rotator.guard", "return meta", "does not compile"),
    ],
)
def test_a_mutant_that_no_longer_applies_is_stale(
    root: Path, function: str, find: str, says: str
) -> None:
    replace = "return meta)" if says == "does not compile" else "pass"
    applied = mutants.apply(_mutant(function, find, replace))

    assert says in applied.problem
    assert applied.source == ""


def _catalogue(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "catalogue.toml"
    path.write_text(textwrap.dedent(body))
    return path


ENTRY = """
    [[mutant]]
    id = "a"
    area = "guard"
    path = "mod.py"
    function = "swap"
    find = "first = a"
    replace = "first = b"
    what = "swap the wrong way"
"""


def test_the_catalogue_is_read_in_file_order(tmp_path: Path) -> None:
    path = _catalogue(tmp_path, ENTRY + ENTRY.replace('id = "a"', 'id = "b"'))

    assert [mu.id for mu in mutants.load_catalogue(path)] == ["a", "b"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (ENTRY + ENTRY, "mutant 2 (a): the id is used twice"),
        (ENTRY.replace('    what = "swap the wrong way"\n', ""), "missing ['what']"),
        (ENTRY + '    why = "typo for what"\n', "unknown ['why']"),
        (ENTRY.replace('"swap the wrong way"', "3"), "every value is a string"),
        ("[[other]]\n", "no [[mutant]] entries"),
    ],
)
def test_a_catalogue_entry_that_cannot_be_read_is_named(
    tmp_path: Path, body: str, says: str
) -> None:
    with pytest.raises(mutants.CatalogueError, match=re.escape(says)):
        mutants.load_catalogue(_catalogue(tmp_path, body))
