# The two commands of the README:
#   make dev    creates/refreshes .venv, renders and validates the dev stack, deploys it to the
#               dev stack's local target, and says where the files went
#   make test   creates/refreshes .venv with the test tools, runs `make lint` (ruff, mypy), then every test
# and for the inner loop:
#   make check  lint, then every test that needs no engine, no gateway and no OpenClaw install (by markers)
# The venv is rebuilt only when a lock file changes (the stamp files below). pip installs the locks as they
# are (exact versions, every file's hash: --require-hashes refuses anything else) and resolves nothing; the
# project itself goes in editable, --no-deps. requirements*.txt say what we need; `make lock` re-locks.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
LOCK_VENV := .venv-lock
PIP_TOOLS := pip-tools==7.6.2
PIP_COMPILE := $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-find-links
# Tests run in parallel (pytest-xdist), whole files per worker, longest first, and no two gateway files at
# once (tests/support/parallel.py); PYTEST_PARALLEL= (empty) runs them in this process, one by one.
# Half as many workers again as cores (at least 2), in both lanes: tests wait on moto_server, subprocesses,
# grace periods and endpoints that never answer, and on 2 cores a third worker fills that time.
# - make test, warm, three pairs alternated (2026-12-04, 2 cores): 3 workers 7:57, 8:03 and 8:27 (pytest
#   476, 482 and 506 s; 886, 915 and 955 CPU-s, the cores 96-98% busy), 2 workers 8:42, 8:58 and 8:45 (521,
#   537 and 524 s; 883, 909 and 899 CPU-s, 85-89% busy). Before gateway files ran apart (ea179a5), 3
#   workers took as long as 2 and 2.5 CPU-min more, likely because gateway scenarios overlapped more.
# - make check (2 cores shared with other work, side by side): 3 workers 217 s and 352 s of pytest, 2
#   workers 317 s and 409 s.
# CHECK_PARALLEL= (empty): make check in one process. WORKERS is expanded only where a lane uses it (`=`, not
# `:=`), so `make dev` starts no Python to count cores.
WORKERS = $(shell $(PYTHON) -c 'import os; print(max(2, (os.cpu_count() or 1) * 3 // 2))')
PYTEST_PARALLEL ?= -n $(WORKERS)
CHECK_PARALLEL ?= -n $(WORKERS)
CHECK_MARKERS := not engine and not gateway and not contract and not openclaw

.PHONY: dev test check engine engine-test contract bench lint lock clean

$(VENV)/.runtime: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) --require-hashes -r requirements.lock
	$(PIP_INSTALL) --no-deps -e .
	touch $@

$(VENV)/.dev: requirements-dev.lock $(VENV)/.runtime
	$(PIP_INSTALL) --require-hashes -r requirements-dev.lock
	touch $@

# Re-locks after a change to requirements*.txt (pip-tools in a venv of its own, so it is in neither lock);
# --upgrade-package NAME through PIP_COMPILE_ARGS moves one package, e.g.
#   make lock PIP_COMPILE_ARGS="--upgrade-package botocore"
lock:
	test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
		$(LOCK_VENV)/bin/pip install --quiet --disable-pip-version-check $(PIP_TOOLS); }
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) --output-file requirements.lock requirements.txt
	$(PIP_COMPILE) $(PIP_COMPILE_ARGS) --output-file requirements-dev.lock requirements-dev.txt

dev: $(VENV)/.runtime
	$(PY) -m compileall -q kimi_infra components  # bytecode even where PYTHONDONTWRITEBYTECODE is set: faster CLI
	$(PY) -m kimi_infra render --stack dev
	$(PY) -m kimi_infra validate build/dev/openclaw.json5
	$(PY) -m kimi_infra deploy --stack dev

# Both test targets write bytecode even where PYTHONDONTWRITEBYTECODE is set (empty unsets it): else every
# worker rewrites every test module, and every CLI, pytest, Pulumi program and provider subprocess compiles
# kimi_infra and components again, each run.
# Lint first, so CI checks it. The engine is built before the tests (first time ~5-8 min, then reused from
# its cache); with KIMI_INFRA_SKIP_ENGINE=1 a failed build does not stop the run, and the engine tests skip.
test: lint
	@$(MAKE) --no-print-directory engine >/dev/null || [ "$$KIMI_INFRA_SKIP_ENGINE" = 1 ]
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest $(PYTEST_PARALLEL)

# The fast lane: no engine build, no gateway, no OpenClaw install; `make test` still runs these too.
check: lint
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest $(CHECK_PARALLEL) -m "$(CHECK_MARKERS)"

# Builds (or reuses) the pinned Pulumi CLI and Python language host from Go modules into
# ~/.cache/kimi-infra/pulumi-<version>/bin (KIMI_INFRA_ENGINE_CACHE picks another folder than
# ~/.cache/kimi-infra); prints that folder as the last line.
engine:
	@bash engine/build.sh

engine-test: $(VENV)/.dev engine
	$(PY) -m pytest -m engine

contract: $(VENV)/.dev
	$(PY) -m pytest -m contract

# ruff everywhere; mypy on kimi_infra and components, strict for the pure core; lint-imports keeps the layers
# (core < stores/targets < deploy < ops < commands < cli, no cycles): all three configured in pyproject.toml
lint: $(VENV)/.dev
	$(PY) -m ruff check kimi_infra components tests bench
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.dev
	$(PY) bench/render_scale.py

clean:
	rm -rf $(VENV) $(LOCK_VENV) build .kimi-infra
