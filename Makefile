# The two commands of the README:
#   make dev    creates/refreshes .venv, renders and validates the dev stack, deploys it to the
#               dev stack's local target, and says where the files went
#   make test   creates/refreshes .venv with the test tools and runs every test
# The venv is rebuilt only when a requirements file changes (the stamp files below).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: dev test contract bench lint clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

dev: $(VENV)/.runtime
	$(PY) -m compileall -q components  # bytecode even where PYTHONDONTWRITEBYTECODE is set: faster CLI
	$(PY) -m components render --stack dev
	$(PY) -m components validate build/dev/openclaw.json5
	$(PY) -m components deploy --stack dev

test: $(VENV)/.dev
	$(PY) -m pytest

contract: $(VENV)/.dev
	$(PY) -m pytest -m contract

lint: $(VENV)/.dev
	$(PY) -m ruff check components tests bench

bench: $(VENV)/.dev
	$(PY) bench/render_scale.py

clean:
	rm -rf $(VENV) build .kimi-infra
