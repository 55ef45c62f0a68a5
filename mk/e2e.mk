# The smoke test of a deployed example stack (included by the Makefile; docs/deploy.md, "Smoke test").
#
#   make e2e STACK=name [REGION=eu-west-1] [PROFILE=p]   rotate the stack's secret once, follow it
#                         to the end, check AWSCURRENT, the password count and the function's log
#                         on every node, print one verdict line (exit 1 on FAIL)
#
# Without STACK it says so and does nothing. `make test` runs the same script against the served
# sandbox (tests/e2e/test_smoke.py), so its logic is exercised on every change.

.PHONY: e2e

e2e: $(STAMP) ## smoke test a deployed example stack: make e2e STACK=name (skipped without STACK)
	@if [ -z "$(STACK)" ]; then \
	  echo "e2e: skipped: no stack named (make e2e STACK=name; docs/deploy.md, Smoke test)"; \
	else \
	  $(PY) -m tests.e2e.smoke --stack "$(STACK)" $(if $(REGION),--region "$(REGION)") \
	    $(if $(PROFILE),--profile "$(PROFILE)"); \
	fi
