# Benchmarks (included by the Makefile). Not in TEST_EXTRA_TARGETS: benchmarks print figures
# beside their targets and never run in CI as timed tests (docs/performance.md).
#
#   make bench         every figure: cold start, memory, waiting (D = 1, 5, 30 s), calls,
#                      artifact (runs `make build`), every-node proof (1, 6, 20 TLS nodes against
#                      the bare TLS floor; 20 vs 1 node at 20 ms round trip; RSS and AWS calls of
#                      a 20-node rotation), scale (200 rotations); 3-5 minutes
#                      (`.venv/bin/python -m bench.run --only nodes`: the every-node part alone)
#   make bench-quick   fewer repetitions, to try the scripts; not figures to quote
#   `.venv/bin/python -m bench.import_profile`: where the Lambda-size cold path's time above
#                      the floor goes, module by module, under the 128 MB quota (about 90 s)

.PHONY: bench bench-quick

bench: install ## the performance figures (3-5 minutes; not in CI)
	$(PY) -m bench.run

bench-quick: install ## fewer repetitions, to try the scripts (not figures to quote)
	$(PY) -m bench.run --quick
