# Reliability report (issue 4). `make test` runs tests/reliability through pytest and then prints
# the CI-sized report, so every CI log ends with the figures.
#   make reliability       CI-sized report: every fault family (drop-after's schedule included),
#                          38 bad inputs, drift, leaks, the consumer campaign (3 policies, about
#                          35 s) and 50 secrets under 20 % throttling (about 85 s on 2 cores)
#   make reliability-full  every fault kind at every call index, the consumer campaign at issue
#                          12's size (about 85 s) and 1,000 secrets with botocore's real backoff
#                          (about 6-7 min on 2 cores)
.PHONY: reliability reliability-full

TEST_EXTRA_TARGETS += reliability

reliability: install ## the reliability report, CI-sized (about 45 s)
	$(PY) -m tests.reliability.campaign.report

reliability-full: install ## every fault at every call, 1,000 secrets (about 5 min)
	$(PY) -m tests.reliability.campaign.report --full
