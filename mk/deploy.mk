# Deployment: the Lambda artifact, and the template checks CI runs (included by the Makefile).
#
#   make build            build/rotation.zip (rotation/ + runtime deps for arm64), its size, and
#                         build/template.yaml + build/example-stack.yaml that point at it
#   make check-artifact   build, then check the zip (handler present, aarch64 wheels, no tests)
#   make check-templates  cfn-lint + checkov on the templates as written and as translated by
#                         aws-sam-translator; the bad fixture must be flagged
#   make scan-report      checkov's findings with and without the inline suppressions
#   make clean-deploy     remove build/ and .venv-deploy/
#
# `sam build` calls `make build-RotationFunction` (template.yaml says BuildMethod: makefile).

.PHONY: build check-artifact check-templates scan-report deploy-tools clean-deploy \
	build-RotationFunction _lambda-package

TEST_EXTRA_TARGETS += check-templates
TEST_EXTRA_TARGETS += check-artifact

DEPLOY_TOOL := tools/deploy_tool.py

# The scanners live in their own virtualenv so their pins never fight the project's.
DEPLOY_VENV := .venv-deploy
DEPLOY_PY := $(DEPLOY_VENV)/bin/python
DEPLOY_TOOLS := cfn-lint==1.58.0 checkov==3.3.30 aws-sam-translator==1.115.0
# The stamp is named after the pins: changing a pin rebuilds the venv, editing this file does not.
DEPLOY_STAMP := $(DEPLOY_VENV)/.installed-$(shell echo '$(DEPLOY_TOOLS)' | md5sum | cut -c1-12)

# Must match template.yaml's Runtime and Architectures (tests/template checks it does).
LAMBDA_PYTHON := 3.13
LAMBDA_PLATFORMS := manylinux2014_aarch64 manylinux_2_28_aarch64

BUILD_DIR := build
PACKAGE_DIR := $(BUILD_DIR)/package
ARTIFACT := $(BUILD_DIR)/rotation.zip

$(DEPLOY_STAMP):
	rm -rf $(DEPLOY_VENV)
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_PY) -m pip install --quiet --disable-pip-version-check $(DEPLOY_TOOLS)
	touch $@

deploy-tools: $(DEPLOY_STAMP)

check-templates: $(DEPLOY_STAMP)
	$(DEPLOY_PY) $(DEPLOY_TOOL) check-templates

scan-report: $(DEPLOY_STAMP)
	$(DEPLOY_PY) $(DEPLOY_TOOL) scan-report

# Runtime dependencies: pyproject.toml's and their whole closure, pinned to the versions the tests
# ran with (.venv), as binary wheels for the Lambda's Python and architecture. boto3 comes with
# the runtime and is left out.
_lambda-package: $(STAMP)
	@test -n "$(TARGET_DIR)" || { echo "TARGET_DIR is not set"; exit 1; }
	mkdir -p "$(TARGET_DIR)" $(BUILD_DIR)
	$(PY) $(DEPLOY_TOOL) requirements > $(BUILD_DIR)/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile --no-deps \
	  --target "$(TARGET_DIR)" --implementation cp --python-version $(LAMBDA_PYTHON) \
	  $(addprefix --platform ,$(LAMBDA_PLATFORMS)) --only-binary=:all: \
	  -r $(BUILD_DIR)/requirements.txt
	$(PY) $(DEPLOY_TOOL) package "$(TARGET_DIR)"
	@# Bytecode only from the Lambda's own Python (a SAM build image has it; so may pyenv here).
	@py=""; for candidate in python$(LAMBDA_PYTHON) $(wildcard $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON).*/bin/python$(LAMBDA_PYTHON)); do \
	  if $$candidate -c 'import sys; assert sys.version_info[:2] == tuple(map(int, "$(LAMBDA_PYTHON)".split(".")))' >/dev/null 2>&1; then py=$$candidate; break; fi; \
	done; \
	if [ -n "$$py" ]; then \
	  $$py -m compileall -q -j0 --invalidation-mode unchecked-hash "$(TARGET_DIR)" >/dev/null \
	    && echo "bytecode: compiled with $$py"; \
	else \
	  echo "bytecode: none (no python$(LAMBDA_PYTHON) here; each cold start compiles, see README.md, Performance)"; \
	fi

build: $(STAMP)
	rm -rf $(PACKAGE_DIR) $(ARTIFACT)
	$(MAKE) --no-print-directory _lambda-package TARGET_DIR=$(PACKAGE_DIR)
	$(PY) $(DEPLOY_TOOL) zip $(PACKAGE_DIR) $(ARTIFACT)
	$(PY) $(DEPLOY_TOOL) render-build-templates $(BUILD_DIR)
	@echo "deploy with: sam deploy -t $(BUILD_DIR)/template.yaml --guided (see README.md, Deploy)"

check-artifact: build
	$(PY) $(DEPLOY_TOOL) check-artifact $(ARTIFACT)

# Called by `sam build` with ARTIFACTS_DIR set; SAM zips the directory itself.
build-RotationFunction:
	$(MAKE) --no-print-directory _lambda-package TARGET_DIR="$(ARTIFACTS_DIR)"

clean-deploy:
	rm -rf $(BUILD_DIR) $(DEPLOY_VENV)
