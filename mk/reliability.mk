# Reliability report. `make test` runs every family once, in pytest (tests/reliability),
# and that run prints the CI-sized report at its end; these targets are the standalone runs.
#   make reliability       CI-sized report: every fault family (drop-after's schedule included),
#                          the bad-input tables, drift, leaks, the consumer campaign (3 policies,
#                          about 35 s) and 50 secrets under 20 % throttling (about 2 min on 2 cores)
#   make reliability-full  every fault kind at every call index, the consumer campaign at full
#                          size and 1,000 secrets with botocore's real backoff (7-8 min)
# The function's own output is discarded; pass ARGS="--log FILE" to keep it.
.PHONY: reliability reliability-full

reliability: require-system install ## the reliability report, CI-sized (about 2-3 minutes on 2 cores)
	$(PY) -m tests.reliability.campaign.report $(ARGS)

reliability-full: require-system install ## every fault at every call, 1,000 secrets (7-8 minutes)
	$(PY) -m tests.reliability.campaign.report --full $(ARGS)
