# Telemetry Workbench — the README documents these targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install chromium run test bench lab lint conformance passing clean

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) chromium

## Chromium for static chart export (kaleido renders PNG/SVG with it; it downloads no browser).
## Installed from Debian's package when missing; skipped when BROWSER_PATH names a browser.
CHROMIUM ?= /usr/bin/chromium
CHROMIUM_APT := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
chromium:
	@if [ -n "$$BROWSER_PATH" ] && [ -x "$$BROWSER_PATH" ] || [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make install: chart export needs Chromium and there is no apt-get here:" \
			"install Chromium or Chrome and set BROWSER_PATH to its executable" >&2; exit 1; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium (static chart export)"; sh -c '$(CHROMIUM_APT)'; \
	elif command -v sudo >/dev/null 2>&1; then \
		echo "installing Debian's chromium with sudo (static chart export)"; sudo sh -c '$(CHROMIUM_APT)'; \
	else \
		echo "make install: chart export needs Debian's chromium; run as root:" \
			"$(CHROMIUM_APT)" >&2; exit 1; \
	fi; \
	test -x "$(CHROMIUM)" || { echo "make install: $(CHROMIUM) is still missing after apt-get" >&2; exit 1; }

## make run: embedded stack up, then the notebook suite (01-06, papermill) into reports/<timestamp>/
## (executed notebooks, report.html, charts/, summary.json); prints the folder. `telemetry demo`
## (the round-trip check without notebooks) stays available as a command.
run: install
	$(VENV)/bin/telemetry up
	$(VENV)/bin/telemetry report

## make test: the whole pytest suite (unit, conformance ratchet, integration on real services).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

## make bench: benchmarks -> bench/results/latest.json and latest.md
bench: install
	$(PY) -m bench

## make lab: JupyterLab on 127.0.0.1 with the stack up
lab: install
	$(VENV)/bin/telemetry up
	@mkdir -p notebooks
	$(VENV)/bin/jupyter lab --ip 127.0.0.1 --no-browser --ServerApp.root_dir=notebooks \
		$(if $(filter 0,$(shell id -u)),--allow-root,)

lint: install
	$(VENV)/bin/ruff check telemetry_lib tests bench

## make conformance: run the ksqlDB conformance corpus and print per-file results
conformance: install
	$(PY) -m telemetry_lib.ksql.conformance ../shared/ksql-conformance/public

## make passing: regenerate tests/conformance/passing.txt (the CI ratchet)
passing: install
	$(PY) -m tests.conformance.regenerate

clean:
	rm -rf $(VENV) .pytest_cache
