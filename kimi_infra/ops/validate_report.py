"""`validate`'s verdict on one file: our model (the part of an OpenClaw config kimi-infra renders),
the legacy env block, the secretref resolver on this host, and optionally the real OpenClaw CLI.

Plain Python (the CLI formats). Messages never quote values from the file (they may be keys).
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimi_infra.errors import KimiInfraError

OPENCLAW_TIMEOUT_S = 120
LEGACY_PROBLEM = ("env: the legacy clawdbot block `env: { MOONSHOT_API_KEY: ... }`, which current OpenClaw "
                  "rejects (it wants `env: { vars: { ... } }`)")
LEGACY_FIX = "drop kimi-infra:legacyEnvBlock from the stack file and render again (or --allow-legacy for clawdbot)"


@dataclass(frozen=True)
class OpenClawVerdict:
    """What `openclaw config validate --json` said: valid, and its issues and warnings as `path: message`."""

    valid: bool
    issues: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "issues": list(self.issues), "warnings": list(self.warnings)}


@dataclass
class FileReport:
    """One file: `error` is our check's one line (None: it passed), warnings, counts, OpenClaw's verdict."""

    path: str
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    providers: int = 0
    models: int = 0
    openclaw: OpenClawVerdict | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and (self.openclaw is None or self.openclaw.valid)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "error": self.error, "warnings": self.warnings,
                "providers": self.providers, "models": self.models,
                "openclaw": self.openclaw.to_json() if self.openclaw else None}


def check_file(path: Path, *, allow_legacy: bool = False, openclaw: Path | None = None) -> FileReport:
    """Every check on one file; a failing check is recorded in the report, never raised."""
    from kimi_infra.validate import validate_file

    report = FileReport(str(path))
    try:
        config = validate_file(path)
    except KimiInfraError as error:
        report.error = str(error)
    else:
        report.providers, report.models = len(config.models.providers), len(config.agents.defaults.models)
        _check_legacy(report, config, allow_legacy)
        report.warnings += _resolver_warnings(config)
    if openclaw is not None:
        report.openclaw = run_openclaw(openclaw, path)
    return report


def _check_legacy(report: FileReport, config: Any, allow_legacy: bool) -> None:
    if not isinstance(config.env, dict):  # the current form is a model, the legacy one a plain mapping
        return
    line = f"{report.path}: {LEGACY_PROBLEM}"
    if allow_legacy:
        report.warnings.append(f"{line} (allowed by --allow-legacy)")
    else:
        report.error = f"{line}; fix: {LEGACY_FIX}"


def _resolver_warnings(config: Any) -> list[str]:
    """A secretref config's exec command that OpenClaw would not run on this host."""
    from kimi_infra.ops.resolver_check import RESOLVER_FIX, resolver_problem

    providers = config.secrets.providers if config.secrets else {}
    warnings = []
    for name, provider in providers.items():
        problem = resolver_problem(provider.command)
        if problem:
            warnings.append(f"secrets.providers.{name}.command: {problem} (checked on this host); fix: {RESOLVER_FIX}")
    return warnings


def run_openclaw(openclaw: Path, path: Path) -> OpenClawVerdict:
    """`<openclaw> config validate --json` on `path` (OPENCLAW_CONFIG_PATH); KimiInfraError if it cannot run."""
    where = f"--openclaw {openclaw}"
    env = {**os.environ, "OPENCLAW_CONFIG_PATH": str(path.resolve())}
    try:
        result = subprocess.run([str(openclaw), "config", "validate", "--json"], env=env, capture_output=True,
                                text=True, timeout=OPENCLAW_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise KimiInfraError(f"cannot run it ({getattr(error, 'strerror', None) or type(error).__name__})",
                             where=where, fix="give the path of the `openclaw` command") from None
    try:
        answer = json.loads(result.stdout)
    except ValueError:
        raise KimiInfraError(f"`config validate --json` answered no JSON (exit {result.returncode})", where=where,
                             fix="use an OpenClaw that has `config validate --json` (2026.9 or later)") from None
    return OpenClawVerdict(bool(answer.get("valid")), _entries(answer.get("issues")), _entries(answer.get("warnings")))


def _entries(items: Any) -> tuple[str, ...]:
    return tuple(f"{item.get('path', '')}: {item.get('message', '')}" for item in items or [] if isinstance(item, dict))
