"""A real `moto_server` process on loopback: start it, point boto3 at it, reset it, stop it; buckets in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.ports import PortTaken, on_a_free_port

if TYPE_CHECKING:
    import pytest


@dataclass
class MotoServer:
    """A running moto_server; `reset()` wipes all state."""

    endpoint: str
    process: subprocess.Popen
    log_path: Path

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()

    def warm(self) -> None:
        """Make moto load its SSM data now (about 1 s, several under load; a reset keeps it): else the
        first SSM call of a run pays it and can outlast the product's AWS read timeout (flaky)."""
        import botocore.session
        from botocore.config import Config

        ssm = botocore.session.Session().create_client(
            "ssm", region_name="us-east-1", endpoint_url=self.endpoint, aws_access_key_id="testing",
            aws_secret_access_key="testing", config=Config(read_timeout=120, retries={"total_max_attempts": 1}))
        ssm.describe_parameters()


def start_moto(log_path: Path, extra_env: dict[str, str] | None = None) -> MotoServer:
    """A moto_server answering on a free loopback port. Should another process bind the port before moto
    does, moto exits at once ("Address already in use"): that costs a retry on another port, not the run."""
    return on_a_free_port(lambda port: _start_moto_on(port, log_path, extra_env))


def _start_moto_on(port: int, log_path: Path, extra_env: dict[str, str] | None) -> MotoServer:
    moto_bin = Path(sys.executable).parent / "moto_server"
    env = {**os.environ, **(extra_env or {})}
    with log_path.open("wb") as log:  # a file, not a PIPE: a full pipe would hang the server
        process = subprocess.Popen([str(moto_bin), "-H", "127.0.0.1", "-p", str(port)],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            taken = b"Address already in use" in log_path.read_bytes()
            raise (PortTaken if taken else RuntimeError)(f"moto_server exited early; see {log_path}")
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=1).close()
            return MotoServer(endpoint, process, log_path)
        except OSError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError(f"moto_server did not answer within 30 s; see {log_path}")


def stop_moto(server: MotoServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def aws_test_env(endpoint: str) -> dict[str, str]:
    """The environment that points boto3 (and anything using the AWS SDKs' standard variables) at
    `endpoint` with dummy credentials and no user AWS config."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    }


def point_boto3_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point boto3 in this process at `endpoint` (dummy credentials, no profile or session token)."""
    for name, value in aws_test_env(endpoint).items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def create_bucket(bucket: str, region: str = "us-east-1", versioned: bool = True, s3: Any = None) -> str:
    """A bucket in `region` (boto3 already pointed at moto), versioned as the README asks of targets
    unless told; `s3` is a client to use instead of a new one. Returns the bucket's name."""
    import boto3

    s3 = s3 or boto3.client("s3", region_name=region)
    options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **options)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket
