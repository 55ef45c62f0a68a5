# The targets CI runs are the targets a developer runs: .ci/run calls `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# Other makefiles in mk/ append their checks here so `make test` runs them too.
TEST_EXTRA_TARGETS :=

.PHONY: help install redis-server demo test unit integration lint typecheck clean
.DEFAULT_GOAL := help

help:
	@echo "make demo   - one full rotation in the local sandbox (moto + a real redis-server)"
	@echo "make test   - lint, type-check and the whole test suite"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) redis-server

# redis-server from Debian's packages is the data plane of the sandbox.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }

demo: install
	$(PY) -m sandbox.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check rotation sandbox tools tests bench examples
	$(VENV)/bin/ruff format --check rotation sandbox tools tests bench examples

typecheck: $(STAMP)
	$(VENV)/bin/mypy rotation sandbox tools tests bench examples

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

integration: install
	$(PY) -m pytest tests/integration -q

test: install lint typecheck
	$(PY) -m pytest -q --cov --cov-report=term
	@for t in $(TEST_EXTRA_TARGETS); do $(MAKE) --no-print-directory $$t || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .aws-sam

-include mk/*.mk
