# The two commands of the README: `make run` starts the app, `make test` passes the tests.
# Each does its own set-up on a fresh machine (virtualenv, requirements, Chromium for browser tests).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run demo test test-fast bench setup clean chromium

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
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
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi; }

test: $(STAMP) chromium
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -m "not browser"

bench: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) bench/bench_txt2img.py
	HF_HUB_OFFLINE=1 $(PY) bench/bench_startup.py

clean:
	rm -rf $(VENV) .pytest_cache
