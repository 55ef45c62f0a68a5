# The targets CI runs are the targets a developer runs: .ci/run calls `make system-packages`
# (once per machine, as root or with sudo) and then `make test`.
# `make help` lists every target that has a `## ` description on its rule line (here and mk/*.mk).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
UV := $(VENV)/bin/uv
DEV_LOCK := requirements/dev.lock.txt
RUNTIME_LOCK := requirements/runtime.lock.txt
DEPLOY_LOCK := requirements/deploy.lock.txt
# Other makefiles in mk/ append their checks here so `make test` runs them too.
TEST_EXTRA_TARGETS := pre-commit

.PHONY: help install system-packages redis-server require-system demo test unit integration \
  lint typecheck pre-commit lock clean
.DEFAULT_GOAL := help

help: ## this list
	@grep -hE '^[a-zA-Z][a-zA-Z0-9_-]*:.*## ' $(MAKEFILE_LIST) \
	  | sed -E 's/^([^:]+):.*## (.*)$$/\1\t\2/' \
	  | awk -F'\t' '{ printf "make %-19s %s\n", $$1, $$2 }'

# Everything comes from the dev lock (exact versions, hashes checked), the project last and
# editable without its dependencies: what the tests run with is what the lock says. pip installs
# only uv (its pin and hashes taken from the lock); uv installs the rest, about four times faster
# than pip here. --no-build-isolation builds the editable install with the lock's setuptools.
$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) tools/deploy_tool.py lock-entry $(DEV_LOCK) uv > $(VENV)/uv.lock.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
	  -r $(VENV)/uv.lock.txt

$(STAMP): pyproject.toml $(DEV_LOCK) | $(UV)
	$(UV) pip install --quiet --python $(PY) --require-hashes -r $(DEV_LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation -e .
	$(PY) tools/deploy_tool.py check-locks
	touch $(STAMP)

install: $(STAMP) ## .venv from requirements/dev.lock.txt (Python packages only)

# System packages are installed once per machine, never by a test run: redis-server from Debian's
# packages is the data plane of the sandbox; valkey-server (mk/engines.mk) is best effort, and
# without it the engine-parametrised tests run on redis-server alone.
system-packages: redis-server ## redis-server, and valkey-server if it can be had (apt-get; sudo)
	@$(MAKE) --no-print-directory valkey-server || { \
	  echo "valkey-server unavailable: the engine tests run on redis-server only" >&2; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO rm -f $(BACKPORTS_LIST); }

redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }

# What the targets that start sandbox nodes need from the machine, as one line when it is missing.
require-system:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "redis-server is not installed: run \`make system-packages\` (apt-get, as root or with sudo)" >&2; \
	  exit 1; }

demo: require-system install ## one full rotation in the local sandbox (moto + a real redis-server)
	$(PY) -m demo

lint: $(STAMP) ## ruff check and ruff format --check
	$(VENV)/bin/ruff check rotation sandbox tools tests bench memorydb_rotation_cli demo examples
	$(VENV)/bin/ruff format --check rotation sandbox tools tests bench memorydb_rotation_cli demo examples

typecheck: $(STAMP) ## mypy (strict on rotation/)
	$(VENV)/bin/mypy rotation sandbox tools tests bench memorydb_rotation_cli demo examples

# The hooks of .pre-commit-config.yaml over every tracked file: ruff, ruff format, cfn-lint and
# detect-secrets, each from .venv.
pre-commit: $(STAMP) ## the pre-commit hooks on every file (ruff, format, cfn-lint, secrets)
	$(VENV)/bin/pre-commit run --all-files --show-diff-on-failure

unit: $(STAMP) ## the unit tests alone (no network)
	$(PY) -m pytest tests/unit -q

integration: require-system install ## the integration tests alone (moto + redis-server)
	$(PY) -m pytest tests/integration -q

test: require-system install lint typecheck ## what CI runs: lint, mypy, every test, then the extra checks
	$(PY) -m pytest -q --cov --cov-report=term
	@for t in $(TEST_EXTRA_TARGETS); do $(MAKE) --no-print-directory $$t || exit 1; done

# The three locks, from pyproject.toml and requirements/deploy.in. uv keeps every pin the
# current lock has unless a range excludes it; `make lock UPGRADE=1` moves everything to the
# newest allowed. The runtime lock is resolved for the Lambda (LAMBDA_PYTHON, arm64; see
# mk/deploy.mk) inside the dev lock's versions, so the artifact ships what the tests ran with.
LOCK_FLAGS = --generate-hashes --quiet --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
# Only uv is needed first: a stale lock is what this target fixes, so it cannot require `install`.
lock: | $(UV) ## regenerate requirements/*.lock.txt (UPGRADE=1: newest allowed versions)
	$(UV) pip compile pyproject.toml --extra dev --universal \
	  --python-version 3.11 $(LOCK_FLAGS) -o $(DEV_LOCK)
	mkdir -p build
	$(UV) pip compile pyproject.toml -c $(DEV_LOCK) --python-version $(LAMBDA_PYTHON) \
	  --python-platform $(LAMBDA_UV_PLATFORM) $(LOCK_FLAGS) -o build/runtime.full.lock.txt
	$(PY) tools/deploy_tool.py prune-runtime-lock build/runtime.full.lock.txt $(RUNTIME_LOCK)
	$(UV) pip compile requirements/deploy.in --universal \
	  --python-version 3.11 $(LOCK_FLAGS) -o $(DEPLOY_LOCK)
	$(MAKE) --no-print-directory $(STAMP)

clean: ## remove everything the targets create (virtualenvs, build/, caches)
	rm -rf $(VENV) .venv-deploy build dist .aws-sam *.egg-info \
	  .pytest_cache .mypy_cache .ruff_cache .coverage coverage.xml
	find . -path ./.git -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

-include mk/*.mk
