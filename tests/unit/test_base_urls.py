"""`kimi-infra:baseUrls`: rendered into the config, used by rotate and status, never promoted.

The refusals (http to a public host, not a URL, unknown provider, cn at a global endpoint, a
password in the URL) are files in tests/bad_inputs/; here are the accepted forms and the rules
that need two stacks or a running command.
"""

from __future__ import annotations

import re
from pathlib import Path

import json5
import pytest

from kimi_infra.errors import SpecError
from kimi_infra.ops.promote import plan_promotion
from kimi_infra.render import render_stack
from kimi_infra.stackfile import spec_from_config
from tests.support.project import dev_like, make_project, run_cli

PROXY = "https://llm-proxy.example.com/moonshot/v1"


def rendered_base_urls(values: dict) -> dict[str, str]:
    spec = spec_from_config({k.removeprefix("kimi-infra:"): v for k, v in values.items()}, "lab")
    config = json5.loads(render_stack(spec).text)
    return {name: provider["baseUrl"] for name, provider in config["models"]["providers"].items()}


def test_base_urls_replace_the_catalog_endpoints_only_where_given():
    urls = rendered_base_urls(dev_like(baseUrls={"moonshot": PROXY}))
    assert urls == {"moonshot": PROXY, "kimi-code": "https://api.kimi.com/coding/v1"}


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v1", "http://localhost/v1", "http://[::1]:9/v1"])
def test_plain_http_is_allowed_to_loopback_hosts(url):
    assert rendered_base_urls(dev_like(baseUrls={"kimi-code": url}))["kimi-code"] == url


def test_a_cn_stack_may_point_at_a_global_endpoint_only_when_it_says_so():
    cn = dev_like(region="cn", providers=["moonshot"], baseUrls={"moonshot": "https://api.moonshot.ai/v1"})
    with pytest.raises(SpecError, match=re.escape("baseUrls.moonshot: points a cn stack at api.moonshot.ai")):
        rendered_base_urls(cn)
    cn["kimi-infra:allowCrossRegionBaseUrl"] = True
    assert rendered_base_urls(cn) == {"moonshot": "https://api.moonshot.ai/v1"}


def test_a_global_stack_may_not_point_at_the_cn_endpoint_by_mistake():
    stack = dev_like(baseUrls={"moonshot": "https://api.moonshot.cn/v1"})
    with pytest.raises(SpecError, match=re.escape("points a global stack at api.moonshot.cn")) as caught:
        rendered_base_urls(stack)
    assert caught.value.field == "kimi-infra:baseUrls.moonshot"


def test_a_proxy_of_any_other_domain_is_fine_in_a_cn_stack():
    cn = dev_like(region="cn", providers=["moonshot"], baseUrls={"moonshot": "https://llm.corp.example.cn/v1"})
    assert rendered_base_urls(cn) == {"moonshot": "https://llm.corp.example.cn/v1"}


def test_promote_never_copies_base_urls(tmp_path: Path):
    project = make_project(tmp_path, {
        "staging": dev_like(baseUrls={"moonshot": PROXY}, aliases={"moonshot/kimi-k2-thinking": "Thinker"}),
        "prod": dev_like(),
    })
    promotion = plan_promotion(project, "staging", "prod")
    assert promotion.changed_fields == ("aliases",)
    assert "baseUrls" not in promotion.new_text and "llm-proxy" not in promotion.rendered_after.text


def test_status_and_rotate_use_the_stacks_base_url(tmp_path: Path):
    project = make_project(tmp_path, {"lab": dev_like(baseUrls={"moonshot": "http://127.0.0.1:9/v1"})})
    keys = {"MOONSHOT_API_KEY": "sk-old-0123456789", "KIMICODE_API_KEY": "sk-kimi-0123456789"}
    assert run_cli("--project-dir", str(project), "deploy", "--stack", "lab", env=keys).returncode == 0
    status = run_cli("--project-dir", str(project), "status", "--stack", "lab")
    assert "endpoint moonshot  http://127.0.0.1:9/v1  (kimi-infra:baseUrls)" in status.stdout, status.stderr
    assert "endpoint kimi-code  https://api.kimi.com/coding/v1  (catalog)" in status.stdout
    # rotate verifies at the stack's base URL (nothing listens on port 9): the error names it.
    rotate = run_cli("--project-dir", str(project), "rotate", "-s", "lab", "-p", "moonshot", "--key-stdin",
                     stdin="sk-new-0123456789")
    assert rotate.returncode == 2  # an error (1 is for findings)
    assert "cannot reach moonshot at http://127.0.0.1:9/v1/models" in rotate.stderr
