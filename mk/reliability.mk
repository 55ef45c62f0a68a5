# Reliability report (issue 4). `make test` runs tests/reliability through pytest and then prints
# the CI-sized report, so every CI log ends with the figures.
#   make reliability       CI-sized report: every fault family, 35 bad inputs, drift, leaks and
#                          50 secrets under 20 % throttling (about 45 s on 2 cores)
#   make reliability-full  every fault kind at every call index and 1,000 secrets with botocore's
#                          real backoff (about 5 min on 2 cores)
.PHONY: reliability reliability-full

TEST_EXTRA_TARGETS += reliability

reliability: install ## the reliability report, CI-sized (about 45 s)
	$(PY) -m tests.reliability.campaign.report

reliability-full: install ## every fault at every call, 1,000 secrets (about 5 min)
	$(PY) -m tests.reliability.campaign.report --full
