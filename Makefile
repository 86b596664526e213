# The two commands of the README:
#   make dev    creates/refreshes .venv, renders and validates the dev stack, deploys it to the
#               dev stack's local target, and says where the files went
#   make test   creates/refreshes .venv with the test tools and runs every test
# The venv is rebuilt only when a requirements file changes (the stamp files below).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: dev test contract bench lint clean

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

dev: $(VENV)/.runtime
	$(PY) -m compileall -q kimi_infra components  # bytecode even where PYTHONDONTWRITEBYTECODE is set: faster CLI
	$(PY) -m kimi_infra render --stack dev
	$(PY) -m kimi_infra validate build/dev/openclaw.json5
	$(PY) -m kimi_infra deploy --stack dev

test: $(VENV)/.dev
	$(PY) -m pytest

contract: $(VENV)/.dev
	$(PY) -m pytest -m contract

lint: $(VENV)/.dev
	$(PY) -m ruff check kimi_infra components tests bench

bench: $(VENV)/.dev
	$(PY) bench/render_scale.py

clean:
	rm -rf $(VENV) build .kimi-infra
