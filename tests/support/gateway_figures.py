"""Prints the gateway tests' figures (FIGURES) at the end of the run, also under xdist.

A plugin of the root conftest, not of tests/gateway/conftest.py: under xdist the controller runs no
collection, so a folder's conftest never loads there and its summary hook never ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.gateway_stack import FIGURES


def _figure_files(config: pytest.Config) -> Path:
    """Where xdist workers leave their figures for the controller: the controller's base temp folder
    (each worker's own is `<it>/popen-gwN`)."""
    base = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if hasattr(config, "workerinput") else base


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist worker's figures live in its own memory: hand them to the controller in a file."""
    worker = getattr(session.config, "workerinput", None)
    if worker is None or not FIGURES:
        return
    target = _figure_files(session.config) / f"gateway-figures-{worker['workerid']}.json"
    target.write_text(json.dumps(FIGURES))


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the gateway figures (the numbers in the gateway-test report), this process's and the workers'."""
    figures: dict[str, list[str]] = {section: list(lines) for section, lines in FIGURES.items()}
    for path in sorted(_figure_files(terminalreporter.config).glob("gateway-figures-*.json")):
        for section, lines in json.loads(path.read_text()).items():
            figures.setdefault(section, []).extend(lines)
    if not figures:
        return
    terminalreporter.section("OpenClaw gateway figures")
    for section, lines in figures.items():
        for line in lines:
            terminalreporter.write_line(f"{section}: {line}")
