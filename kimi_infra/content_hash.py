"""Content hashes: how kimi-infra tells what a target holds without printing or storing its text.

A config without a key is hashed with plain sha256, so anyone can check a file with `sha256sum`.
A config that holds a key (inline mode) is hashed with HMAC-SHA256 keyed by the stack store's
random salt: its hash is published (Pulumi state, S3 metadata, history logs, `status --json`),
and a bare sha256 would let whoever sees it confirm a guessed key offline.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from kimi_infra.masking import holds_key

_DOMAIN = b"kimi-infra content\0"  # keeps a content hash apart from a rotation token of the same salt


KEYED_ALGORITHM = "hmac-sha256"
"""The algorithm of a hasher with a salt: the hashes of configs that hold keys."""


@dataclass(frozen=True)
class ContentHasher:
    """Hashes deployed bytes: plain sha256 without a salt, HMAC-SHA256 keyed by `salt` with one."""

    salt: bytes | None = field(default=None, repr=False)

    @property
    def algorithm(self) -> str:
        """`sha256` or `hmac-sha256`: what `status`, `deploy` and `history` reports say they show."""
        return "sha256" if self.salt is None else KEYED_ALGORITHM

    def of_bytes(self, data: bytes) -> str:
        """The hex digest of `data`; WITHHELD for bytes that hold a key when there is no salt."""
        if self.salt is not None:
            return _keyed(self.salt, data)
        return _plain(data, data.decode("utf-8", "replace"))

    def of_text(self, text: str) -> str:
        """The hex digest of `text` as UTF-8 (what every target stores)."""
        data = text.encode("utf-8")
        if self.salt is not None:
            return _keyed(self.salt, data)
        return _plain(data, text)  # `text` is what decoding `data` gives: no second copy per render


def _keyed(salt: bytes, data: bytes) -> str:
    return hmac.new(salt, _DOMAIN + data, hashlib.sha256).hexdigest()


def _plain(data: bytes, text: str) -> str:
    """sha256 of `data`, or WITHHELD when its `text` holds a key."""
    # e.g. an inline config still deployed after the stack switched to keyMode reference
    if holds_key(text):
        return WITHHELD
    return hashlib.sha256(data).hexdigest()


PLAIN = ContentHasher()
"""The hasher for configs that hold no key."""

WITHHELD = "withheld"
"""What the plain hasher gives for bytes that hold a key: not hex, so it equals no content hash."""
