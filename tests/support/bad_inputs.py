"""The table of bad stack files (tests/bad_inputs/*.yaml), shared by the CLI tests and the engine tests.

Each file starts with `# expect-field: <field>` and `# expect: <words of the message>`, and is the
stack file of a stack named `bad`. TARGET_CASES are the cases about file-target paths: both doors
(`deploy`/`render` and `pulumi preview/up/destroy`) must refuse each with one line, writing nothing.
"""

from __future__ import annotations

from pathlib import Path

from tests.support.project import CANARY_KEY

BAD_INPUTS_DIR = Path(__file__).resolve().parents[1] / "bad_inputs"
BAD_INPUTS = sorted(BAD_INPUTS_DIR.glob("*.yaml"))
BAD_STACK = "bad"
"""The stack name every bad input is tried as (its file is stacks/Pulumi.bad.yaml)."""
TARGET_CASES = [path for path in BAD_INPUTS
                if path.read_text().startswith("# expect-field: kimi-infra:targets[") and ".path\n" in path.read_text()]
"""The bad inputs whose refusal is a file-target path rule."""
DEV_STORE = ".kimi-infra/dev/secrets.json"
"""The dev stack's key store: the victim of finding 1 (a target there lost the dev keys)."""
BAD_KEYS = {"inner newline": "sk-inner\nnewline-0123456789abcdef", "carriage return": CANARY_KEY + "\r",
            "padding": f"  {CANARY_KEY} "}
"""Keys `set-key` refuses and `pulumi config set --secret` keeps (it strips one trailing newline only)."""
IGNORED = ("__pycache__", ".venv")
"""What a run may create in a project without writing anything of ours (Python's byte code, the venv link)."""


def expectations(path: Path) -> tuple[str, str]:
    """The field the error names and words its message holds."""
    lines = path.read_text().splitlines()
    field = lines[0].removeprefix("# expect-field: ")
    words = lines[1].removeprefix("# expect: ")
    return field, words


def project_files(project: Path) -> dict[str, bytes]:
    """Every file of the project and its bytes (symlinks by where they point): equal before and
    after a refusal means nothing was written, no key stored, no file deleted."""
    files: dict[str, bytes] = {}
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if any(part in IGNORED for part in relative.parts):
            continue
        if path.is_symlink():
            files[str(relative)] = f"-> {path.readlink()}".encode()
        elif path.is_file():
            files[str(relative)] = path.read_bytes()
    return files
