"""The warm provider python (components.warm_provider) ends by itself once its engine is gone: until a wrapper
claims it, only the language host would stop it, and the host can be killed first (reviewer's finding)."""

from __future__ import annotations

import socket
import subprocess
import sys

from tests.support.project import PROJECT_DIR

ENGINE_GONE_WAIT_S = 20  # a guard against hanging, not a measurement


def start_warm_provider(address: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-u", "-m", "components.warm_provider", address], cwd=PROJECT_DIR,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_warm_provider_serves_while_its_engine_is_there_and_exits_when_it_is_gone():
    engine = socket.create_server(("127.0.0.1", 0))
    engine.settimeout(ENGINE_GONE_WAIT_S)  # no engine check at all fails, it does not hang
    provider = start_warm_provider(f"127.0.0.1:{engine.getsockname()[1]}")
    try:
        port_line = provider.stdout.readline() if provider.stdout else ""
        assert port_line.strip().isdigit(), provider.stderr.read() if provider.stderr else ""
        for _ in range(3):  # several engine checks answered: it keeps serving
            engine.accept()[0].close()
        assert provider.poll() is None
        engine.close()
        provider.wait(timeout=ENGINE_GONE_WAIT_S)
    finally:
        engine.close()
        if provider.poll() is None:
            provider.kill()
            provider.wait()
    assert provider.returncode == 1
