"""AWS clients for the stores and targets: a fresh client per call, built fast.

A client is never kept on an object or a module: stores and targets are pickled into Pulumi
state with dill, and a client (with its SSL context) is not picklable. Building a client is
cheap here because botocore's parsed API models are shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

_SHARED: ContextVar[dict[tuple[str, str, str | None], Any] | None] = ContextVar("kimi_infra_clients", default=None)


@contextmanager
def reusing_clients() -> Iterator[None]:
    """Within this block one client per (service, region, profile) serves every call.

    For operations that touch many targets or secrets in one go (deploy, rotate): the clients
    live exactly as long as the block, in a context variable, never on a pickled object.
    """
    if _SHARED.get() is not None:
        yield  # an outer block already shares
        return
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def client(service: str, region: str, profile: str | None = None) -> Any:
    """A client for one call (shared inside `reusing_clients`); honours AWS_PROFILE / `profile`,
    AWS_ENDPOINT_URL and the standard credential chain."""
    shared = _SHARED.get()
    if shared is None:
        return _new_client(service, region, profile)
    key = (service, region, profile)
    if key not in shared:
        shared[key] = _new_client(service, region, profile)
    return shared[key]


def _new_client(service: str, region: str, profile: str | None) -> Any:
    # botocore directly: boto3's Session would append to the shared loader's search path on every
    # call. Imported here so that modules using `reusing_clients` stay light on the local path.
    import botocore.session
    from botocore.config import Config

    session = botocore.session.Session(profile=profile)
    session.register_component("data_loader", _loader(session.get_config_variable("data_path")))
    return session.create_client(service, region_name=region, config=Config(retries={"mode": "standard"}))


@cache
def _loader(data_path: str | None) -> Any:
    """botocore's parsed API models, shared by all clients: parsing them anew costs each client
    about 0.1 s. The loader holds no credentials and no connections."""
    import botocore.loaders

    return botocore.loaders.create_loader(data_path)
