"""`rotate --reload-gateway` and the next step `rotate` prints, on local-store stacks (no gateway here:
tests/gateway/ runs the real one)."""

from __future__ import annotations

from pathlib import Path

from tests.support.project import dev_like, make_project, run_cli

OLD, NEW = "sk-old-0123456789abcdef", "sk-new-0123456789abcdef"


def project_in(tmp_path: Path, mode: str) -> tuple[Path, Path]:
    """A deployed `lab` stack on a local store (absolute path, as secretref needs); returns (project, store)."""
    store = tmp_path / "store" / "secrets.json"
    extra = {"resolver": {"command": "/opt/kimi-infra/bin/kimi-infra-resolve"}} if mode == "secretref" else {}
    project = make_project(tmp_path / "project", {"lab": dev_like(
        keyMode=mode, secretStore={"kind": "local", "path": str(store)}, **extra)})
    deployed = run_cli("--project-dir", str(project), "deploy", "--stack", "lab",
                       env={"MOONSHOT_API_KEY": OLD, "KIMICODE_API_KEY": "sk-kimi-0123456789abcdef"})
    assert deployed.returncode == 0, deployed.stderr
    return project, store


def rotate(project: Path, *extra: str):
    return run_cli("--project-dir", str(project), "rotate", "-s", "lab", "-p", "moonshot", "--key-stdin",
                   "--skip-verify", *extra, stdin=NEW)


def test_reload_gateway_is_refused_in_reference_mode_before_anything_changes(tmp_path):
    project, store = project_in(tmp_path, "reference")
    before = store.read_bytes()
    result = rotate(project, "--reload-gateway")
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "--reload-gateway: in keyMode reference the gateway reads MOONSHOT_API_KEY from its environment" in line
    assert "fix: " in line and NEW not in result.stderr
    assert store.read_bytes() == before


def test_without_reload_gateway_rotate_says_what_to_run_and_when_to_revoke(tmp_path):
    project, _ = project_in(tmp_path, "secretref")
    result = rotate(project)
    assert result.returncode == 0, result.stderr
    assert ("lab/moonshot: next: on each gateway host run `openclaw secrets reload` (or rotate with "
            "--reload-gateway there); then revoke the old key at the provider only after a grace period longer "
            "than your longest request") in result.stderr
    assert "one 401 locks the provider out of the gateway for about a minute" in result.stderr


def test_a_failed_reload_fails_rotate_and_says_the_key_is_already_current(tmp_path):
    project, store = project_in(tmp_path, "secretref")
    result = rotate(project, "--reload-gateway", "--openclaw", "/bin/false")
    assert result.returncode == 2
    assert ("lab/moonshot: the new key is current in the store, but `openclaw secrets reload` failed (exit 1), "
            "so the gateway may still use the old key: do not revoke it yet") in result.stderr
    assert NEW in store.read_text() and NEW not in result.stderr
    missing = rotate(project, "--reload-gateway", "--openclaw", str(tmp_path / "no-such-openclaw"))
    # Running rotate again with the same key retries only the reload: the key is already current.
    assert "the key is already current" in missing.stderr
    assert missing.returncode == 2 and "no-such-openclaw not found), so the gateway" in missing.stderr
    assert "fix: give --openclaw /path/to/openclaw" in missing.stderr
