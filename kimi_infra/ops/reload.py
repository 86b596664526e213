"""After a rotation: make the gateway use the new key, and say when the old key may be revoked.

OpenClaw resolves a key when the gateway starts and on `openclaw secrets reload`, and fixes it
for a request when the request starts. So the safe order is: the new key becomes current ->
each gateway reloads -> wait longer than the longest request -> revoke the old key at the
provider. Revoking earlier fails the requests still in flight with the old key, and after one
401 OpenClaw locks that provider out of the gateway for about a minute (every request fails,
reloads included).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable

from kimi_infra.catalog import provider as provider_info
from kimi_infra.errors import KimiInfraError
from kimi_infra.models import KeyMode

RELOAD_COMMAND = ("secrets", "reload", "--json")
RELOAD_TIMEOUT_S = 120
GRACE_ADVICE = ("revoke the old key at the provider only after a grace period longer than your longest request "
                "(revoking earlier fails requests still in flight, and one 401 locks the provider out of the "
                "gateway for about a minute)")


class ReloadError(KimiInfraError):
    """`openclaw secrets reload` failed: the new key is current, but the gateway may still use the old one."""


def check_reload_mode(key_mode: KeyMode, provider: str) -> None:
    """Refuse --reload-gateway where a reload cannot pick up the new key (reference mode)."""
    if key_mode == "reference":
        variable = provider_info(provider).env_var
        raise KimiInfraError(f"in keyMode reference the gateway reads {variable} from its environment at start, "
                             "and a reload cannot change it", where="--reload-gateway",
                             fix=f"drop --reload-gateway, give the gateways the new key in {variable} and restart them")


def reload_gateway(openclaw: str, label: str, say: Callable[[str], None], advice: str | None = GRACE_ADVICE) -> float:
    """Run `<openclaw> secrets reload --json` (with our environment: OPENCLAW_CONFIG_PATH names the
    gateway) and require `"ok": true` with no warning (a gateway whose resolver fails answers ok,
    warns, and keeps the last good key); returns the seconds it took. Its output is never copied
    into our messages: only its exit code and error code. `advice` (when to revoke the old key) ends the
    success line; the agent gives none, since revoking is `rotate --wait-fleet`'s call."""
    started = time.monotonic()
    command = [openclaw, *RELOAD_COMMAND]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=RELOAD_TIMEOUT_S)
    except FileNotFoundError:
        raise _failed(label, f"{openclaw} not found", "give --openclaw /path/to/openclaw") from None
    except subprocess.TimeoutExpired:
        raise _failed(label, f"no answer within {RELOAD_TIMEOUT_S} s", "check the gateway is running") from None
    answer = _json_or_none(result.stdout)
    if result.returncode != 0 or answer.get("ok") is not True:
        code = _error_code(answer)
        why = f"exit {result.returncode}" + (f", {code}" if code else "")
        raise _failed(label, why, "check the gateway is running and its log, then run `openclaw secrets reload`")
    warnings = answer.get("warningCount")
    if isinstance(warnings, int) and warnings > 0:  # e.g. the resolver could not reach the store
        raise _failed(label, f"it answered ok with {warnings} warning(s): a secret could not be resolved and the "
                      "gateway keeps serving its previous key",
                      "check the gateway log (SECRETS_DEGRADED) and `openclaw secrets audit --allow-exec`, "
                      "then run `openclaw secrets reload` again")
    seconds = time.monotonic() - started
    done = f"{label}: the gateway reloaded its secrets (`openclaw secrets reload`, {seconds:.1f} s)"
    say(f"{done}; {advice}" if advice else done)
    return seconds


def next_step(key_mode: KeyMode, provider: str) -> str:
    """What the operator does after a rotation without --reload-gateway, on each gateway host."""
    if key_mode == "secretref":
        return (f"next: on each gateway host run `openclaw {' '.join(RELOAD_COMMAND[:2])}` (or rotate with "
                f"--reload-gateway there); then {GRACE_ADVICE}")
    if key_mode == "inline":
        return ("next: once each gateway host has the re-written config, run `openclaw secrets reload` there "
                f"(or restart the gateway); then {GRACE_ADVICE}")
    variable = provider_info(provider).env_var
    return f"next: give each gateway host the new key in {variable} and restart the gateway; then {GRACE_ADVICE}"


def _json_or_none(text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error_code(answer: dict) -> str | None:
    """OpenClaw's error code (e.g. SECRETS_PROVIDER_DEGRADED); nothing else of its answer is copied."""
    error = answer.get("error")
    code = error.get("code") if isinstance(error, dict) else answer.get("code")
    return code if isinstance(code, str) and re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", code) else None


def _failed(label: str, why: str, fix: str) -> ReloadError:
    return ReloadError(f"the new key is current in the store, but `openclaw secrets reload` failed ({why}), so the "
                       "gateway may still use the old key: do not revoke it yet", where=label, fix=fix)
