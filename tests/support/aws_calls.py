"""Count the AWS API calls of every boto3 client created while the counter is installed, with
their parameters and the HTTP status AWS (moto) answered (for the IAM tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ApiCall:
    """One answered call: what was asked (parameters as the caller gave them) and what came back."""

    service: str
    operation: str
    params: dict[str, Any]
    status: int
    answer: dict[str, Any]


@dataclass
class CallCounter:
    """AWS API calls made by every boto3 client created while it is installed."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (service, operation, region)
    answered: list[ApiCall] = field(default_factory=list)  # every call that got an HTTP answer

    def by_operation(self) -> Counter[str]:
        return Counter(op for _, op, _ in self.calls)

    def writes(self) -> list[str]:
        """Operations that change state (everything but reads and listings)."""
        return [op for _, op, _ in self.calls if not op.startswith(("Get", "List", "Describe", "Head"))]

    def clear(self) -> None:
        self.calls.clear()
        self.answered.clear()


def install_call_counter() -> tuple[CallCounter, Callable[[], None]]:
    """Hook every botocore client created from now on (through botocore's event system, nothing
    patched in the call path); returns the counter and an uninstaller."""
    import botocore.session

    counter = CallCounter()
    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *args: Any, **kwargs: Any) -> Any:
        client = original(self, service_name, *args, **kwargs)
        region = client.meta.region_name

        def record(model: Any, **_: Any) -> None:
            counter.calls.append((service_name, model.name, region))

        def keep_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            context["recorded_params"] = dict(params)  # before botocore serializes them

        def record_answer(model: Any, http_response: Any, parsed: dict[str, Any], context: dict[str, Any],
                          **_: Any) -> None:
            counter.answered.append(ApiCall(service_name, model.name, context.get("recorded_params", {}),
                                            http_response.status_code, parsed))

        client.meta.events.register("before-call.*.*", record)
        client.meta.events.register("before-parameter-build.*.*", keep_params)
        client.meta.events.register("after-call.*.*", record_answer)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    return counter, lambda: setattr(botocore.session.Session, "create_client", original)
