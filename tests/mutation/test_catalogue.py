"""Every mutant in tests/mutation/catalogue.toml still aims at the code it names: its pattern
occurs exactly once in its function, and the mutated file compiles. No mutant is run here (that
is `make mutants`); this only keeps the catalogue from rotting silently."""

from __future__ import annotations

import pytest

from tests.mutation import mutants

CATALOGUE = mutants.load_catalogue()


def test_the_catalogue_is_not_empty_and_names_real_files() -> None:
    assert len(CATALOGUE) > 50
    assert {mu.path for mu in CATALOGUE} <= {
        str(path.relative_to(mutants.ROOT)) for path in (mutants.ROOT / "rotation").rglob("*.py")
    }


@pytest.mark.parametrize("mutant", CATALOGUE, ids=lambda mu: mu.id)
def test_each_mutant_still_applies(mutant: mutants.Mutant) -> None:
    problem = mutants.apply(mutant).problem

    assert problem == "", (
        f"stale mutant {mutant.id!r} ({mutant.path}, {mutant.function}): {problem}. "
        f"Re-aim or delete its entry in {mutants.CATALOGUE_PATH.relative_to(mutants.ROOT)}."
    )
