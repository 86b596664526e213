"""The `kimi-infra:baseUrls` setting: where a stack's gateways reach each provider's API.

Teams that put a proxy or an LLM gateway in front of Moonshot name it here; without an entry a
provider is reached at the catalog's endpoint for the stack's region. The rules:
- https only, except a loopback host (a proxy on the gateway host itself, tests), because the
  gateway sends the key in a header to this URL;
- no user name or password in the URL (it would put a secret in the rendered file), no query;
- a known endpoint of the other region (api.moonshot.ai in a cn stack, api.moonshot.cn in a
  global one) is a mistake unless the stack says `kimi-infra:allowCrossRegionBaseUrl: true`:
  Moonshot's cn and global platforms have separate accounts and keys.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections.abc import Callable

from kimi_infra.catalog import PROVIDERS, ProviderInfo
from kimi_infra.errors import SpecError
from kimi_infra.models import StackSpec

Fail = Callable[[str, str, str], SpecError]
OPT_IN = "allowCrossRegionBaseUrl"


def base_url(spec: StackSpec, info: ProviderInfo) -> str:
    """The URL the stack's gateways use for `info`: the stack's setting, else the catalog's."""
    return spec.baseUrls.get(info.name) or info.base_urls[spec.region]


def is_loopback_host(host: str | None) -> bool:
    """Whether `host` is this machine (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def check_base_urls(spec: StackSpec, fail: Fail) -> None:
    """Raise (through `fail`) for the first bad `baseUrls` entry or a needless opt-in."""
    for name, url in spec.baseUrls.items():
        field = f"baseUrls.{name}"
        if name not in PROVIDERS:
            raise fail(field, f"{name!r} is not a provider kimi-infra knows", f"use one of {', '.join(PROVIDERS)}")
        if name not in spec.providers:
            raise fail(field, f"provider {name!r} is not enabled in this stack",
                       f"add {name!r} to kimi-infra:providers or remove this base URL")
        host = _check_url(url, field, fail)
        _check_region(spec, host, field, fail)
    if getattr(spec, OPT_IN) and not _crosses_region(spec):
        raise fail(OPT_IN, "no base URL points at the other region's endpoint",
                   "remove it (it only allows such a base URL)")


def _check_url(url: str, field: str, fail: Fail) -> str:
    """The URL's host, after the scheme/host/credential rules."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises ValueError here
    except ValueError:
        raise fail(field, "is not a URL", "give a URL such as https://llm-proxy.example.com/v1") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(field, "is not an http(s) URL with a host", "give a URL such as https://llm-proxy.example.com/v1")
    if parts.username is not None or parts.password is not None:
        raise fail(field, "holds a user name or password", "remove it from the URL (the key is sent as a header)")
    if parts.query or parts.fragment:
        raise fail(field, "has a query or fragment",
                   "give the API's base URL only (OpenClaw appends /chat/completions)")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise fail(field, f"uses plain http to {parts.hostname}, which would send the key unencrypted",
                   "use https (plain http is allowed only to a loopback host)")
    return parts.hostname


def _check_region(spec: StackSpec, host: str, field: str, fail: Fail) -> None:
    domain = _foreign_domain(spec.region, host)
    if domain is None or getattr(spec, OPT_IN):
        return
    raise fail(field, f"points a {spec.region} stack at {host}, an endpoint of the other region (separate "
               "accounts and keys)", f"use this region's endpoint, or set kimi-infra:{OPT_IN}: true if intended")


def _crosses_region(spec: StackSpec) -> bool:
    return any(_foreign_domain(spec.region, urllib.parse.urlsplit(url).hostname or "")
               for url in spec.baseUrls.values())


def _foreign_domain(region: str, host: str) -> str | None:
    """The other region's catalog domain that `host` is in (e.g. moonshot.ai for a cn stack), or None."""
    own = _domains(lambda r: r == region)
    for domain in _domains(lambda r: r != region) - own:
        if host == domain or host.endswith("." + domain):
            return domain
    return None


def _domains(region_matches: Callable[[str], bool]) -> set[str]:
    """The last two labels of each catalog endpoint's host in the matching regions."""
    hosts = {urllib.parse.urlsplit(url).hostname or "" for info in PROVIDERS.values()
             for region, url in info.base_urls.items() if region_matches(region)}
    return {".".join(host.split(".")[-2:]) for host in hosts}
