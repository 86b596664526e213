"""`settle_process`, which the CLI, the Pulumi program and the provider plugin call first: no pydantic
plugin scan unless the user asks for one, and nothing left for the collector at exit (issue 23)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.support.project import PROJECT_DIR

PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("FROZEN:" + str(gc.get_freeze_count() > 0)))  # runs after settle's own
from kimi_infra.short_lived import settle_process
settle_process()
import pydantic
class Model(pydantic.BaseModel):
    x: int
Model(x=1)
loader = sys.modules.get("pydantic.plugin._loader")
print("SCANNED:" + str(loader is not None and loader._plugins is not None))
"""


def settled(env_value: str | None) -> dict[str, bool]:
    """What a fresh interpreter that called settle_process said: {"SCANNED": ..., "FROZEN": ...}."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if env_value is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = env_value
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=PROJECT_DIR, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return {name: value == "True" for name, _, value in (line.partition(":") for line in result.stdout.split())}


def test_a_settled_process_scans_no_plugins_and_leaves_nothing_to_collect_at_exit():
    assert settled(None) == {"SCANNED": False, "FROZEN": True}


def test_a_pydantic_disable_plugins_the_user_set_wins():
    assert settled("")["SCANNED"] is True
