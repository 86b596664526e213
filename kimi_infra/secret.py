"""A wrapper that keeps an API key out of repr, str, logs, tracebacks and pickles."""

from __future__ import annotations

import hmac
from typing import NoReturn


class Secret:
    """An API key or other secret string. Call `reveal()` only where the value must leave us."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret takes a str")
        self._value = value

    def reveal(self) -> str:
        """The plain value, for the one place that must send or write it."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __reduce__(self) -> NoReturn:  # pickle, dill and copy all go through here
        raise TypeError("a Secret is never pickled; keep secret values out of serialized state")
