"""AWS clients for the stores and targets: a fresh client per call, built fast.

A client is never kept on an object or a module: stores and targets are pickled into Pulumi
state with dill, and a client (with its SSL context) is not picklable. Building a client is
cheap here because botocore's parsed API models are shared.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import botocore.loaders
import botocore.session
from botocore.config import Config

_RETRIES = Config(retries={"mode": "standard"})


def client(service: str, region: str, profile: str | None = None) -> Any:
    """A new client for one call; honours AWS_PROFILE / `profile`, AWS_ENDPOINT_URL and the
    standard credential chain (botocore directly: boto3's Session would append to the shared
    loader's search path on every call)."""
    session = botocore.session.Session(profile=profile)
    session.register_component("data_loader", _loader(session.get_config_variable("data_path")))
    return session.create_client(service, region_name=region, config=_RETRIES)


@cache
def _loader(data_path: str | None) -> botocore.loaders.Loader:
    """botocore's parsed API models, shared by all clients: parsing them anew costs each client
    about 0.1 s. The loader holds no credentials and no connections."""
    return botocore.loaders.create_loader(data_path)
