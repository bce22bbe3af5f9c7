# powerlists — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out
export PREFECT_HOME ?= $(CURDIR)/.venv/prefect-home
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 180

.PHONY: run test test-fast venv lint clean browser report-screenshot eval bench

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,bench]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/powerlists run --manifest data/sample/sources.toml --out $(OUT)

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/pytest -q -ra

# Everyday work: everything but the end-to-end tests marked slow (real servers, browsers, whole flows).
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest -q -ra -m "not slow"

# Link quality against labelled data, with baselines side by side (prints a table, writes bench/results/eval.json).
eval: $(STAMP)
	$(BIN)/python bench/eval.py $(ARGS)

# Throughput, memory and link quality at 10k/100k/1M items, baselines, incremental and Dask runs
# (prints one table, writes bench/results/*.json; ARGS=--national adds the ~10M-item country).
bench: $(STAMP)
	$(BIN)/python bench/bench.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(OUT) .pytest_cache .ruff_cache

# Headless Chromium and CJK fonts for the report's browser tests (Debian packages; needs root or sudo).
browser:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || \
	  { $$(command -v sudo) apt-get update -qq && $$(command -v sudo) apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

report-screenshot: $(STAMP) browser
	$(BIN)/python scripts/report_screenshot.py $(OUT) docs/report.png
