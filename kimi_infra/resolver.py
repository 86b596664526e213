"""OpenClaw's exec SecretRef resolver (protocol v1): answers each provider's current key from our store.

OpenClaw runs the command of `secrets.providers.kimi-infra` without a shell, with only the
`passEnv` variables that are set (no PATH, no HOME) and cwd = the command's folder. It appends
the rendered `args` (which store to read), writes one request and reads one answer:

    stdin : {"protocolVersion": 1, "provider": "kimi-infra", "ids": ["kimi-infra/prod/moonshot"]}
    stdout: {"protocolVersion": 1, "values": {"kimi-infra/prod/moonshot": "<key>"},
             "errors": {"kimi-infra/prod/kimi-code": {"code": "NOT_FOUND"}}}

A key leaves only on stdout, as the value of the id that asked for it. Per-id failures are error
codes (NOT_FOUND, ACCESS_DENIED, UNAVAILABLE, INVALID_ID) plus the store's one-line message on
stderr; a request that cannot be read is one line on stderr and exit 1, which OpenClaw reports as
unresolved refs. Starts without pulumi; botocore only for the AWS store.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, BinaryIO

from kimi_infra.secret_ids import PROVIDER_NAMES, secret_id

PROTOCOL_VERSION = 1
MAX_REQUEST_BYTES = 1 << 20
MAX_IDS = 64  # a gateway asks for a handful; more is a malformed or hostile request
DEFAULT_DEADLINE_MS = 10_000  # below OpenClaw's default timeoutMs of ours (15 s)
PROG = "kimi-infra-resolve"
_ID = re.compile(r"kimi-infra/(?P<stack>[A-Za-z0-9][A-Za-z0-9_.-]{0,99})/(?P<provider>[a-z0-9-]{1,64})")

UNAVAILABLE = "UNAVAILABLE"  # any other store failure: network, limits, a corrupt store file, the deadline
INVALID_ID = "INVALID_ID"

Reader = Callable[[str], Any]  # secret name -> the store's current Secret, or None
Answers = dict[str, tuple[str | None, str | None]]  # id -> (key, None) or (None, error code)


class RequestError(Exception):
    """The request on stdin is unusable; the message never quotes it."""


def main(argv: list[str] | None = None) -> int:
    """Read one request from stdin, write one answer to stdout; exit 1 on an unusable request.

    Never a traceback: whatever happens (closed stdin or stdout, a surprise) is one line on stderr.
    """
    try:
        return _main(argv)
    except OSError as error:  # stdout closed by the reader, a broken pipe
        _say(f"cannot write the answer: {error.strerror or type(error).__name__}")
        return 1
    except Exception as error:  # the last line of defence; the message may hold data, so only the type
        _say(f"internal error ({type(error).__name__}); fix: report it with the request's shape, never a key")
        return 1


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if sys.stdin is None or sys.stdout is None:
        _say("stdin or stdout is closed; fix: run it as OpenClaw does, with a request on stdin")
        return 1
    try:
        ids = read_request(sys.stdin.buffer)
    except RequestError as error:
        _say(f"bad request on stdin: {error}")
        return 1
    reader = _reader(args)
    if reader is None and any(is_known_id(i) for i in ids):
        _say("no store given; fix: pass --aws-region REGION or --local-file PATH "
             "(render the stack in keyMode secretref: its secrets.providers.kimi-infra.args)")
        return 1
    values, errors = resolve_within(ids, reader, args.stack, args.deadline_ms / 1000)
    answer: dict[str, Any] = {"protocolVersion": PROTOCOL_VERSION, "values": values}
    if errors:
        answer["errors"] = {i: {"code": code} for i, code in errors.items()}
    # ASCII escapes: an id may hold a lone surrogate, which no UTF-8 stream can carry.
    sys.stdout.write(json.dumps(answer, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="OpenClaw exec SecretRef resolver for kimi-infra keys (protocol v1 on stdin/stdout).")
    store = parser.add_mutually_exclusive_group()
    store.add_argument("--aws-region", metavar="REGION", help="read AWS Secrets Manager in this region "
                       "(cn-* regions are the aws-cn partition)")
    store.add_argument("--local-file", metavar="PATH", help="read this local store file (absolute path)")
    parser.add_argument("--aws-profile", metavar="NAME", help="AWS profile for --aws-region")
    parser.add_argument("--stack", metavar="STACK", help="serve only this stack's ids (others get INVALID_ID)")
    parser.add_argument("--deadline-ms", metavar="MS", type=_deadline, default=DEFAULT_DEADLINE_MS,
                        help=f"answer within this time, UNAVAILABLE for ids not read by then "
                             f"(default {DEFAULT_DEADLINE_MS}; keep it below OpenClaw's timeoutMs)")
    return parser


def _deadline(text: str) -> int:
    if not text.isdigit() or not 100 <= int(text) <= 120_000:
        raise argparse.ArgumentTypeError("give a whole number of milliseconds, 100-120000")
    return int(text)


def read_request(stream: BinaryIO) -> list[str]:
    """The request's ids, each once, in order; RequestError for anything else."""
    raw = stream.read(MAX_REQUEST_BYTES + 1)
    if len(raw) > MAX_REQUEST_BYTES:
        raise RequestError(f"over {MAX_REQUEST_BYTES} bytes")
    try:
        request = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError("not UTF-8 text") from None
    except json.JSONDecodeError as error:  # its msg names the problem, not the text
        raise RequestError(f"not JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except RecursionError:
        raise RequestError("JSON nested too deeply") from None
    except ValueError:  # e.g. an integer of thousands of digits (Python's conversion limit)
        raise RequestError("a JSON number is too long") from None
    if not isinstance(request, dict):
        raise RequestError("not a JSON object")
    version = request.get("protocolVersion")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        shown = version if isinstance(version, int) and not isinstance(version, bool) else "missing or not a number"
        raise RequestError(f"protocolVersion is {shown}; this resolver speaks {PROTOCOL_VERSION}")
    ids = request.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise RequestError("`ids` must be a list of strings")
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_IDS:
        raise RequestError(f"{len(unique)} ids, over the limit of {MAX_IDS} per request")
    return unique


def is_known_id(ref_id: str) -> bool:
    """Whether `ref_id` is `kimi-infra/<stack>/<provider>` for a provider of the catalog."""
    match = _ID.fullmatch(ref_id)
    if match is None:
        return False
    return match["provider"] in PROVIDER_NAMES and secret_id(match["stack"], match["provider"]) == ref_id


def invalid_reason(ref_id: str, stack: str | None) -> str | None:
    """Why `ref_id` is not ours to answer (one line, the id shown escaped), or None."""
    if not is_known_id(ref_id):
        return f"{ref_id[:300]!a} is not kimi-infra/<stack>/<provider> for a provider of the catalog"
    named = ref_id.split("/")[1]
    if stack is not None and named != stack:
        return (f"{ref_id} belongs to stack {named!r}, and this resolver serves stack {stack!r} only; "
                "fix: point the ref at this stack's id, or give that stack its own resolver")
    return None


def resolve(ids: list[str], reader: Reader | None, stack: str | None = None,
            answers: Answers | None = None) -> Answers:
    """id -> (key, None) or (None, error code), in request order; the store is read only for
    well-formed ids of `stack` (any stack when None). `answers` is filled as ids are done."""
    answers = {} if answers is None else answers
    for ref_id in ids:
        reason = invalid_reason(ref_id, stack)
        if reason is not None:
            _say(reason)
            answers[ref_id] = (None, INVALID_ID)
        elif reader is not None:  # main() refuses a request with known ids and no store
            answers[ref_id] = _fetch(reader, ref_id)
    return answers


def resolve_within(ids: list[str], reader: Reader | None, stack: str | None,
                   seconds: float) -> tuple[dict[str, str], dict[str, str]]:
    """(values, error codes) within `seconds`: ids the store has not answered by then are
    UNAVAILABLE, so OpenClaw always gets an answer before its own timeout kills us."""
    from kimi_infra.aws import reusing_clients

    answers: Answers = {}

    def work() -> None:
        with reusing_clients():  # one Secrets Manager client for every id of the request
            resolve(ids, reader, stack, answers)

    worker = threading.Thread(target=work, name="resolve", daemon=True)  # a hung read must not keep us
    worker.start()
    worker.join(seconds)
    done = dict(answers)  # a snapshot: the worker may still be blocked on the store
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for ref_id in ids:
        if ref_id not in done and (reader is not None or invalid_reason(ref_id, stack) is not None):
            _say(f"{ref_id}: the store did not answer within {seconds:g} s; fix: check the network and the "
                 "store's endpoint (AWS_ENDPOINT_URL), or raise timeoutMs")
            errors[ref_id] = UNAVAILABLE
            continue
        value, code = done.get(ref_id, (None, None))
        if code is not None:
            errors[ref_id] = code
        elif value is not None:
            values[ref_id] = value
    return values, errors


def _fetch(reader: Reader, name: str) -> tuple[str | None, str | None]:
    """(key, None) or (None, error code); a failure is reported on stderr without any value."""
    from kimi_infra.stores import StoreError

    try:
        key = reader(name)
    except StoreError as error:
        _say(str(error))
        return None, code_for(error)
    except Exception as error:  # any surprise becomes a per-id answer, never a traceback
        _say(f"{name}: unexpected {type(error).__name__} while reading the store")
        return None, UNAVAILABLE
    if key is None:
        _say(f"{name}: has no current version; fix: run `pulumi up` or `rotate`")
        return None, "NOT_FOUND"
    return key.reveal(), None


def code_for(error: Exception) -> str:
    """The exec-protocol error code for a store failure."""
    from kimi_infra.stores.base import SecretNotFoundError, StoreAccessError

    if isinstance(error, SecretNotFoundError):
        return "NOT_FOUND"
    if isinstance(error, StoreAccessError):
        return "ACCESS_DENIED"
    return UNAVAILABLE


def _reader(args: argparse.Namespace) -> Reader | None:
    if args.local_file:
        from kimi_infra.stores.local_file import LocalFileStore

        return lambda name: LocalFileStore(args.local_file, name).get("current")
    if args.aws_region:
        from kimi_infra.stores.aws_secrets_manager import AwsSecretsManagerStore  # botocore only for AWS

        return lambda name: AwsSecretsManagerStore(name, args.aws_region, profile=args.aws_profile).get("current")
    return None


def _say(message: str) -> None:
    """One line on stderr (OpenClaw's logs); callers never pass a key."""
    sys.stderr.write(f"{PROG}: {message}\n")
