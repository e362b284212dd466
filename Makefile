# The two commands of the README: `make run` starts the app, `make test` passes the tests.
# Each does its own set-up on a fresh machine (virtualenv, requirements, Chromium for browser tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Two lanes (pytest-xdist): the browser test files one after another on one, every other test file on either
# (tests/conftest.py schedules them). LANES= runs the suite in one process.
LANES ?= -n 2
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run demo test test-fast test-under-load bench gpu-check setup clean chromium

$(STAMP): requirements.txt requirements-dev.txt requirements-workers.txt
	@test -x $(VENV)/bin/pip || $(PYTHON) -m venv --clear $(VENV) || { \
	  echo "Installing Debian's python3-venv (needed to create .venv)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv --clear $(VENV); }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(PY) app.py $(ARGS)

demo: $(STAMP)
	$(PY) app.py --demo $(ARGS)

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

test: $(STAMP) chromium
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(LANES)

# The suite as CI may get it: two CPU-busy processes beside it on the same cores (they stop with the tests).
test-under-load: $(STAMP) chromium
	@pids=""; for i in 1 2; do $(PY) -c 'while True: pass' & pids="$$pids $$!"; done; \
	trap 'kill $$pids 2>/dev/null' EXIT; echo "two busy processes:$$pids"; \
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(LANES)

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q $(LANES) -m "not browser"

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/bench_txt2img.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_startup.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_compare.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_pose.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_edit.py

# The one prepared GPU check (a CUDA GPU; BUDGET seconds): prints the table, writes bench/results/gpu_check.json.
gpu-check: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/gpu_check.py --budget $(or $(BUDGET),480)

clean:
	rm -rf $(VENV) .pytest_cache
