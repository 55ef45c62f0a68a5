# Reliability report (issue 4). `make test` runs every family once, in pytest (tests/reliability),
# and that run prints the CI-sized report at its end; these targets are the standalone runs.
#   make reliability       CI-sized report: every fault family, the bad-input tables, drift, leaks and
#                          50 secrets under 20 % throttling (about 45 s on 2 cores)
#   make reliability-full  every fault kind at every call index and 1,000 secrets with botocore's
#                          real backoff (about 5 min on 2 cores)
# The function's own output is discarded; pass ARGS="--log FILE" to keep it.
.PHONY: reliability reliability-full

reliability: install ## the reliability report, CI-sized (about 45 s)
	$(PY) -m tests.reliability.campaign.report $(ARGS)

reliability-full: install ## every fault at every call, 1,000 secrets (about 5 min)
	$(PY) -m tests.reliability.campaign.report --full $(ARGS)
