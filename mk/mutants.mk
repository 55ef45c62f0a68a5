# Mutation pass over rotation/ (included by the Makefile; not part of `make test`).
#   make mutants        every hand-made mutant of tools/mutants.py against the unit suite, then the
#                       unit suite's survivors against tests/integration (a few minutes on 2 cores)
#   make mutants-unit   the unit suite only (about a minute)
# A mutant whose code pattern no longer matches is listed as STALE: update tools/mutants.py.
.PHONY: mutants mutants-unit

mutants: install ## mutation pass over rotation/: unit suite, then integration for its survivors
	$(PY) tools/mutants.py

mutants-unit: $(STAMP) ## mutation pass over rotation/ with the unit suite only (about a minute)
	$(PY) tools/mutants.py --suite unit
