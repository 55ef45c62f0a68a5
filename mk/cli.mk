# The operator's command line as an operator installs it (included by the Makefile).
#
#   make check-cli-install   build the project's wheel, pip install it with its `cli` extra into an
#                            empty virtualenv outside the repository, run `memorydb-rotation
#                            --version` and a command that needs boto3 (tests/cli/test_install.py)
#
# pip resolves from the package index through its cache, so a warm run takes seconds.

.PHONY: check-cli-install

TEST_EXTRA_TARGETS += check-cli-install

check-cli-install: $(STAMP) ## pip install the CLI's wheel ([cli] extra) into an empty venv; --version
	MEMORYDB_ROTATION_CHECK_INSTALL=1 $(PY) -m pytest -q -p no:cacheprovider tests/cli/test_install.py
