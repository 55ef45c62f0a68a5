# Engines of the sandbox's nodes (included by the Makefile). redis-server 7.0 (Debian main) is the
# default; valkey-server 8.0, MemoryDB's default engine family, is in Debian bookworm-backports
# only. `make system-packages` (what .ci/run calls) installs both, valkey-server best effort.
#
#   make valkey-server        install valkey-server (adds bookworm-backports on bookworm)
#   make integration-valkey   the integration tests with every sandbox node on valkey-server
#
# Tests that take the `engine` fixture run on every installed engine by default; pytest's
# `--sandbox-engine=redis|valkey` (or $SANDBOX_ENGINE) puts the whole run on one engine.

.PHONY: valkey-server integration-valkey

BACKPORTS_LIST := /etc/apt/sources.list.d/bookworm-backports.list

valkey-server: ## install valkey-server (adds bookworm-backports on bookworm)
	@command -v valkey-server >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  . /etc/os-release; \
	  if [ "$$VERSION_CODENAME" = bookworm ]; then \
	    grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ || \
	      echo 'deb http://deb.debian.org/debian bookworm-backports main' \
	        | $$SUDO tee $(BACKPORTS_LIST) >/dev/null; \
	    TARGET="-t bookworm-backports"; \
	  fi; \
	  echo "installing valkey-server (Debian package$${TARGET:+, bookworm-backports})"; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$TARGET valkey-server >/dev/null; }
	@valkey-server --version

integration-valkey: install valkey-server ## the integration tests with every node on valkey-server
	$(PY) -m pytest tests/integration -q --sandbox-engine=valkey
