"""Count the AWS API calls of every boto3 client created while the counter is installed."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallCounter:
    """AWS API calls made by every boto3 client created while it is installed."""

    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (service, operation, region)

    def by_operation(self) -> Counter[str]:
        return Counter(op for _, op, _ in self.calls)

    def writes(self) -> list[str]:
        """Operations that change state (everything but reads and listings)."""
        return [op for _, op, _ in self.calls if not op.startswith(("Get", "List", "Describe", "Head"))]

    def clear(self) -> None:
        self.calls.clear()


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

        client.meta.events.register("before-call.*.*", record)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    return counter, lambda: setattr(botocore.session.Session, "create_client", original)
