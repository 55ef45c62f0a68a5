# Mutation pass over rotation/ (included by the Makefile; not part of `make test`).
#   make mutants        every mutant of tests/mutation/catalogue.toml against the unit suite, then
#                       the unit suite's survivors against tests/integration and the
#                       hostile-input table, tests/reliability/test_bad_input.py (several minutes)
#   make mutants-unit   the unit suite only
# `make test` runs tests/mutation/test_catalogue.py, which fails on a stale mutant (a pattern that
# no longer matches exactly once in its function) and names the entry to re-aim.
.PHONY: mutants mutants-unit

mutants: require-system install ## mutation pass over rotation/: unit suite, then integration for its survivors
	$(PY) -m tests.mutation.mutants

mutants-unit: $(STAMP) ## mutation pass over rotation/ with the unit suite only
	$(PY) -m tests.mutation.mutants --suite unit
