# Two commands do all setup on a fresh machine: `make demo` and `make test`.
# `make test-fast` is the edit-test loop: no judge build, no browser, no lmms-eval subprocess.
# Each (re)creates the virtual environments idempotently, then runs.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: venv judge browser java test test-fast demo lint clean

venv:
	bash scripts/bootstrap_venv.sh

judge: venv
	bash scripts/bootstrap_judge.sh

browser:
	bash scripts/bootstrap_apt.sh chromium chromium fonts-dejavu-core

java:
	bash scripts/bootstrap_apt.sh java default-jre-headless

test: venv judge browser java
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# Tests marked slow (llama.cpp judge, Chromium, lmms-eval subprocesses) are left out; VDC_BENCH_FAST_TIER
# makes any unmarked test that still reaches for one of them fail instead of silently slowing the tier.
test-fast: venv
	$(VENV)/bin/ruff check .
	VDC_BENCH_FAST_TIER=1 $(PY) -m pytest -m "not slow"

# Setup (timed, venv and judge runtime side by side) then the demo, which prints and writes the time split.
DEMO_SETUP_TIMES := runs/demo-setup-times.json
demo:
	bash scripts/bootstrap_demo.sh $(DEMO_SETUP_TIMES)
	$(VENV)/bin/vdc-bench demo --setup-times $(DEMO_SETUP_TIMES)

lint: venv
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .venv-judge .pytest_cache
