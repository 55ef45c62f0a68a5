# Deployment: the Lambda artifact, and the template checks CI runs (included by the Makefile).
#
#   make build            build/rotation.zip (rotation/ + requirements/runtime.lock.txt for arm64),
#                         its size and sha256, and build/template.yaml + build/example-stack.yaml
#   make check-reproducible  a second build in another directory must give the same sha256
#   make check-artifact   build, then check the zip (handler present, aarch64 wheels, no tests)
#   make check-templates  cfn-lint + checkov on the templates as written and as translated by
#                         aws-sam-translator; the bad fixture must be flagged
#   make scan-report      checkov's findings with and without the inline suppressions
#   make clean-deploy     remove build/ and .venv-deploy/ (`make clean` removes them too)
#
# `sam build` calls `make build-RotationFunction` (template.yaml says BuildMethod: makefile).

.PHONY: build check-artifact check-reproducible check-templates scan-report deploy-tools \
	clean-deploy build-RotationFunction _lambda-package _artifact

TEST_EXTRA_TARGETS += check-templates
TEST_EXTRA_TARGETS += check-artifact
TEST_EXTRA_TARGETS += check-reproducible

DEPLOY_TOOL := tools/deploy_tool.py

# The scanners live in their own virtualenv, installed from their own lock (requirements/deploy.in
# names them), so their pins never fight the project's.
DEPLOY_VENV := .venv-deploy
DEPLOY_PY := $(DEPLOY_VENV)/bin/python
DEPLOY_STAMP := $(DEPLOY_VENV)/.installed-stamp

# Must match template.yaml's Runtime and Architectures (tests/template checks it does).
# LAMBDA_UV_PLATFORM is what `make lock` resolves for; LAMBDA_PLATFORMS the wheel tags pip accepts.
LAMBDA_PYTHON := 3.13
LAMBDA_UV_PLATFORM := aarch64-manylinux_2_28
LAMBDA_PLATFORMS := manylinux2014_aarch64 manylinux_2_28_aarch64

BUILD_DIR := build
PACKAGE_DIR := $(BUILD_DIR)/package
ARTIFACT := $(BUILD_DIR)/rotation.zip

$(DEPLOY_STAMP): $(DEPLOY_LOCK)
	rm -rf $(DEPLOY_VENV)
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_PY) -m pip install --quiet --disable-pip-version-check --require-hashes \
	  -r $(DEPLOY_LOCK)
	touch $@

deploy-tools: $(DEPLOY_STAMP) ## .venv-deploy: cfn-lint, checkov, aws-sam-translator from their lock

check-templates: $(DEPLOY_STAMP) ## cfn-lint + checkov on the templates, as written and as translated
	$(DEPLOY_PY) $(DEPLOY_TOOL) check-templates

scan-report: $(DEPLOY_STAMP) ## checkov's findings with and without the inline suppressions
	$(DEPLOY_PY) $(DEPLOY_TOOL) scan-report

# Runtime dependencies: requirements/runtime.lock.txt, the whole closure the function needs
# (without what the Lambda runtime provides), exact versions with hashes, as binary wheels for the
# Lambda's Python and architecture. --no-deps: the lock leaves out botocore on purpose.
_lambda-package: $(STAMP)
	@test -n "$(TARGET_DIR)" || { echo "TARGET_DIR is not set"; exit 1; }
	mkdir -p "$(TARGET_DIR)"
	$(PY) $(DEPLOY_TOOL) check-locks
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
	  --require-hashes --target "$(TARGET_DIR)" --implementation cp \
	  --python-version $(LAMBDA_PYTHON) $(addprefix --platform ,$(LAMBDA_PLATFORMS)) \
	  --only-binary=:all: -r $(RUNTIME_LOCK)
	$(PY) $(DEPLOY_TOOL) package "$(TARGET_DIR)"
	@# Bytecode only from the Lambda's own Python (a SAM build image has it; so may pyenv here).
	@# -s/-p record /var/task/... as each file's path (what tracebacks on Lambda show), so the
	@# bytes do not depend on the directory the build ran in.
	@py=""; for candidate in python$(LAMBDA_PYTHON) $(wildcard $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON).*/bin/python$(LAMBDA_PYTHON)); do \
	  if $$candidate -c 'import sys; assert sys.version_info[:2] == tuple(map(int, "$(LAMBDA_PYTHON)".split(".")))' >/dev/null 2>&1; then py=$$candidate; break; fi; \
	done; \
	if [ -n "$$py" ]; then \
	  $$py -m compileall -q -j0 --invalidation-mode unchecked-hash \
	    -s "$(TARGET_DIR)" -p /var/task "$(TARGET_DIR)" >/dev/null \
	    && echo "bytecode: compiled with $$py"; \
	else \
	  echo "bytecode: none (no python$(LAMBDA_PYTHON) here; each cold start compiles, see README.md, Performance)"; \
	fi

# One package directory and its zip; `build` and `check-reproducible` differ only in where.
_artifact: $(STAMP)
	@test -n "$(OUT)" || { echo "OUT is not set"; exit 1; }
	rm -rf "$(OUT)/package" "$(OUT)/rotation.zip"
	$(MAKE) --no-print-directory _lambda-package TARGET_DIR="$(OUT)/package"
	$(PY) $(DEPLOY_TOOL) zip "$(OUT)/package" "$(OUT)/rotation.zip"

build: $(STAMP) ## build/rotation.zip (prints size and sha256) and build/*.yaml pointing at it
	$(MAKE) --no-print-directory _artifact OUT=$(BUILD_DIR)
	$(PY) $(DEPLOY_TOOL) render-build-templates $(BUILD_DIR)
	@echo "deploy with: sam deploy -t $(BUILD_DIR)/template.yaml --guided (see README.md, Deploy)"

check-artifact: build ## build, then check the zip (handler, arm64 wheels, nothing that must not ship)
	$(PY) $(DEPLOY_TOOL) check-artifact $(ARTIFACT)

# A second build of the same tree in another directory must give the same bytes: what lets
# `sam deploy` skip unchanged code and a reviewer match a deployed zip to a commit.
check-reproducible: build ## a second build elsewhere must have the same sha256 (about 6 s)
	$(MAKE) --no-print-directory _artifact OUT=$(BUILD_DIR)/again
	$(PY) $(DEPLOY_TOOL) same-bytes $(ARTIFACT) $(BUILD_DIR)/again/rotation.zip
	rm -rf $(BUILD_DIR)/again

# Called by `sam build` with ARTIFACTS_DIR set; SAM zips the directory itself.
build-RotationFunction: ## what `sam build` runs (template.yaml: BuildMethod makefile)
	$(MAKE) --no-print-directory _lambda-package TARGET_DIR="$(ARTIFACTS_DIR)"

clean-deploy: ## remove build/ and .venv-deploy/
	rm -rf $(BUILD_DIR) $(DEPLOY_VENV)
