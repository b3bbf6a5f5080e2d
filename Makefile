# Two commands matter: `make run` and `make test`. Both install what they need first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# `make run` installs what running needs, not the test and lint tools: a stamp of its own,
# so that `make test` after `make run` still installs them.
RUN_STAMP := $(VENV)/.installed-run

.PHONY: install run test lint bench clean browser chromium

# The browser tests (tests/browser/): Debian's Chromium driven by Playwright (from PyPI;
# Playwright's own browser download cannot work on these machines), and axe-core from the
# npm registry, pinned, injected into each page by the tests.
AXE_VERSION := 4.11.0
AXE_DIR     := .cache/axe-core-$(AXE_VERSION)
AXE         := $(AXE_DIR)/package/axe.min.js

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(RUN_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(RUN_STAMP)

# Serves the HTTP API on a demo partnership until Ctrl-C; a second run reuses it.
run: $(RUN_STAMP)
	$(BIN)/ledger serve --demo

test: install browser
	$(BIN)/python -m pytest

# Installs what the browser tests need where it can be had; where it cannot, they skip
# saying why (and fail in CI: LEDGER_REQUIRE_BROWSER=1 in .ci/run, or CI set).
browser: chromium $(AXE)

chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| echo "chromium could not be installed: the browser tests will skip (CI: fail)"; \
	else echo "chromium is missing and cannot be installed here (not root, or no apt-get):" \
		"the browser tests will skip"; fi

$(AXE):
	@if command -v npm >/dev/null; then \
		{ mkdir -p $(AXE_DIR) && cd $(AXE_DIR) && npm pack --silent axe-core@$(AXE_VERSION) >/dev/null \
		&& tar -xzf axe-core-$(AXE_VERSION).tgz package/axe.min.js package/LICENSE; } \
		|| echo "axe-core could not be fetched: the accessibility checks will skip (CI: fail)"; \
	else echo "npm is missing: the accessibility checks will skip"; fi

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .ledger .pytest_cache .mypy_cache .ruff_cache .cache tests/artifacts
