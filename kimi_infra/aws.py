"""AWS clients for the stores and targets: a fresh client per call, built fast, never hanging;
and the one classifier that tells what kind of AWS failure an error is.

A client is never kept on an object or a module: stores and targets are pickled into Pulumi
state with dill, and a client (with its SSL context) is not picklable. Building a client is
cheap here (about 6 ms of CPU instead of 13) because botocore's parsed API models and a template of
its event handlers are shared; each client still gets a session of its own, so credentials and
config files are read anew. Every client has explicit connect
and read timeouts and a bounded number of attempts, so an endpoint that never answers costs
at most about ATTEMPTS x (CONNECT + READ) seconds, not botocore's default minutes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any, Literal

CONNECT_TIMEOUT = 2.0  # seconds; loopback and AWS endpoints connect in milliseconds
READ_TIMEOUT = 4.0  # seconds; Secrets Manager, S3 and SSM answer these small calls well within it
ATTEMPTS = 2  # the first try and one retry (throttling and transient errors), never more

FailureKind = Literal["timeout", "refused", "dns", "unreachable", "credentials", "access-denied", "throttled",
                      "not-found", "other"]
FAILURES: dict[str, tuple[str, str]] = {
    "timeout": ("AWS did not answer in time", "check the network and the endpoint (AWS_ENDPOINT_URL), then run again"),
    "refused": ("the endpoint refused the connection", "check AWS_ENDPOINT_URL and that the endpoint is up"),
    "dns": ("the endpoint's host name does not resolve", "check the region and AWS_ENDPOINT_URL, and DNS"),
    "unreachable": ("the endpoint cannot be reached", "check the network, the region and AWS_ENDPOINT_URL"),
    "credentials": ("no usable AWS credentials", "set AWS_PROFILE (or the profile in the stack file), or log in "
                    "(`aws sso login`)"),
    "access-denied": ("access denied", "allow the AWS identity in use this call (its IAM policy, and the bucket's or "
                      "KMS key's policy; `kimi-infra iam-policy` prints one for the keys)"),
    "throttled": ("AWS is throttling requests", "wait a minute and run again"),
    "not-found": ("it does not exist", "create it (`pulumi up`), or correct the name and region"),
    "other": ("AWS refused the request", "check the stack file's settings for it"),
}
"""Per kind: (problem, fix), the wording every store and target error uses."""

_BAD_CREDENTIALS = ("AWS rejected the credentials",
                    "refresh them (e.g. `aws sso login`) or set AWS_PROFILE; cn-* regions need aws-cn credentials")
_KMS = ("the KMS key cannot be used",
        "check `kmsKeyId` in the stack file: the key must exist in this region, be enabled and let you use it")
ANSWERS: dict[str, tuple[str, str]] = {
    "NoSuchBucket": ("the bucket does not exist", "create it, or correct `bucket` and `region` in the stack file"),
    "PermanentRedirect": ("the bucket is in another region", "correct `region` in the stack file"),
    "AuthorizationHeaderMalformed": ("the bucket is in another region", "correct `region` in the stack file"),
    **dict.fromkeys(("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId",
                     "UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException"), _BAD_CREDENTIALS),
    **dict.fromkeys(("InvalidKeyId", "KMSDisabledException", "KMSInvalidStateException", "KMSAccessDeniedException",
                     "KMSNotFoundException", "DecryptionFailure", "EncryptionFailure"), _KMS),
    "HierarchyTypeMismatchException": ("AWS cannot change this parameter's type in place",
                                       "delete the parameter, then run again"),
    "ParameterMaxVersionLimitExceeded": ("the parameter has 100 versions and the oldest one carries a label",
                                         "remove that label (`aws ssm unlabel-parameter-version`), then run again"),
}
"""Per AWS error code that needs its own words: (problem, fix). Other codes get their kind's (FAILURES)."""

_NOT_FOUND = frozenset({"ResourceNotFoundException", "NoSuchBucket", "NoSuchKey", "ParameterNotFound", "404"})
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "SlowDown",
                        "LimitExceededException", "TooManyUpdates", "RequestLimitExceeded"})
_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidClientTokenId",
                     "InvalidSignatureException", "SignatureDoesNotMatch", "ExpiredTokenException", "ExpiredToken",
                     "InvalidAccessKeyId", "403"})

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


def check_profile() -> None:
    """The profile AWS_PROFILE (or --profile) names exists: botocore says so only at the first
    call, after a long-running command has started (an agent would report nothing, and retry)."""
    import os

    import botocore.session

    from kimi_infra.errors import KimiInfraError

    name = os.environ.get("AWS_PROFILE")
    if not name or name in botocore.session.Session().available_profiles:
        return
    raise KimiInfraError(f"the AWS profile {name!r} is in neither the AWS config nor the credentials file",
                         where="--profile (AWS_PROFILE)",
                         fix="give a profile that `aws configure list-profiles` shows, or unset AWS_PROFILE to use "
                             "the host's role")


def _new_client(service: str, region: str, profile: str | None) -> Any:
    # botocore directly: boto3's Session would append to the shared loader's search path on every
    # call. Imported here so that modules using `reusing_clients` stay light on the local path.
    import botocore.session
    from botocore.config import Config

    # A fresh session each time (credentials and config files are read anew), its event handlers copied
    # from one template rather than registered again: that registration was most of a client's cost.
    session = botocore.session.Session(event_hooks=copy.copy(_builtin_handlers()), include_builtin_handlers=False,
                                       profile=profile)
    session.register_component("data_loader", _loader(session.get_config_variable("data_path")))
    config = Config(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT,
                    retries={"mode": "standard", "total_max_attempts": ATTEMPTS})
    return session.create_client(service, region_name=region, config=config)


def classify(error: BaseException) -> FailureKind:
    """What kind of failure a botocore error is: the one place stores and targets ask."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
        ReadTimeoutError,
    )

    if isinstance(error, ClientError):
        return _classify_answer(error.response)
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError):
        return "timeout"
    if isinstance(error, NoCredentialsError | PartialCredentialsError | ProfileNotFound):
        return "credentials"
    if isinstance(error, EndpointConnectionError):
        return _classify_connection(error.kwargs.get("error"))
    return "other"


def explain(error: BaseException) -> tuple[str, str]:
    """(problem, fix) for any botocore failure, an answer from AWS or none (timeout, no credentials)."""
    from botocore.exceptions import ClientError

    return explain_answer(error) if isinstance(error, ClientError) else FAILURES[classify(error)]


def explain_answer(error: Any) -> tuple[str, str]:
    """(problem, fix) for an AWS answer (a botocore ClientError): the one translation of an error code
    that stores, targets, doctor and preflight use, so a code reads the same wherever it is met.
    Never AWS's own message, which may echo a value we sent."""
    code = str(error.response.get("Error", {}).get("Code", "Unknown"))
    if code in ANSWERS or code.startswith("KMS."):
        return ANSWERS.get(code, _KMS)
    kind = _classify_answer(error.response)
    if kind == "other":
        return f"AWS answered {code}", FAILURES["other"][1]
    return FAILURES[kind]


def _classify_answer(response: Mapping[str, Any]) -> FailureKind:
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _NOT_FOUND:
        return "not-found"
    if code in _THROTTLED or status == 429:
        return "throttled"
    if code in _DENIED or status == 403:  # moto's IAM denials arrive as XML that botocore reads as "403"
        return "access-denied"
    return "other"


def _classify_connection(cause: object) -> FailureKind:
    """A refused connection, a name that does not resolve, or something else on the way."""
    text = f"{type(cause).__name__}: {cause}".lower()
    if "nameresolution" in text or "name or service not known" in text or "nodename" in text \
            or "temporary failure in name resolution" in text or "gaierror" in text:
        return "dns"
    if "refused" in text:
        return "refused"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    return "unreachable"


@cache
def _builtin_handlers() -> Any:
    """The event handlers botocore registers on every new session (request signing, retries, model
    fixes...), registered once here; each session gets its own copy of them, so what one client
    registers never reaches another."""
    import botocore.hooks
    import botocore.session

    emitter = botocore.hooks.HierarchicalEmitter()
    botocore.session.Session(event_hooks=emitter)  # registers them on `emitter`
    return emitter


@cache
def _loader(data_path: str | None) -> Any:
    """botocore's parsed API models, shared by all clients: parsing them anew costs each client
    about 0.1 s. The loader holds no credentials and no connections."""
    import botocore.loaders

    return botocore.loaders.create_loader(data_path)
