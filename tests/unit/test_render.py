"""The rendered config matches the seed, is byte-stable, and round-trips through parse + validate."""

from __future__ import annotations

import json5
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kimi_infra.assemble import assemble
from kimi_infra.models import StackSpec
from kimi_infra.render import parse, render, render_stack
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from tests.support.project import dev_like, make_project, run_cli
from tests.unit.seed_expected import ALIASES, KIMI_CODE_BLOCK, MOONSHOT_BLOCK

CANARY_MOONSHOT = Secret("sk-moonshot-canary-000111222333444555666777")
CANARY_KIMICODE = Secret("sk-kimicode-canary-888999aaabbbcccdddeeefff")
KEYS = {"moonshot": CANARY_MOONSHOT, "kimi-code": CANARY_KIMICODE}


def spec(**values) -> StackSpec:
    base = {"stack": "t", "providers": ["moonshot", "kimi-code"],
            "targets": [{"kind": "file", "path": "out.json5"}]}
    return StackSpec.model_validate({**base, **values})


def rendered_dict(stack_spec: StackSpec, keys=None) -> dict:
    return json5.loads(render_stack(stack_spec, keys).text)


def test_dev_stack_on_stdout_matches_the_seed(known_project):
    result = run_cli("render", "--stack", "dev", "--out", "-", cwd=known_project)
    assert result.returncode == 0, result.stderr
    config = json5.loads(result.stdout)
    providers = config["models"]["providers"]
    assert providers["moonshot"] == MOONSHOT_BLOCK
    assert providers["kimi-code"] == KIMI_CODE_BLOCK
    assert config["agents"]["defaults"]["models"] == ALIASES
    assert config["agents"]["defaults"]["model"] == {"primary": "moonshot/kimi-k2-0905-preview"}
    assert config["models"]["mode"] == "merge"
    assert "env" not in config and "secrets" not in config
    assert list(config) == ["agents", "models"]
    assert list(providers["moonshot"]) == ["baseUrl", "apiKey", "api", "models"]


def test_model_fields_keep_the_seed_order():
    config = rendered_dict(spec())
    model = config["models"]["providers"]["kimi-code"]["models"][0]
    assert list(model) == ["id", "name", "reasoning", "input", "cost", "contextWindow", "maxTokens",
                           "headers", "compat"]


def test_inline_mode_puts_keys_in_env_vars():
    config = rendered_dict(spec(keyMode="inline"), KEYS)
    assert config["env"] == {"vars": {"MOONSHOT_API_KEY": CANARY_MOONSHOT.reveal(),
                                      "KIMICODE_API_KEY": CANARY_KIMICODE.reveal()}}
    assert config["models"]["providers"]["moonshot"]["apiKey"] == "${MOONSHOT_API_KEY}"
    assert next(iter(config)) == "env"


def test_inline_mode_marks_the_render_secret_and_hides_it_in_repr():
    rendered = render_stack(spec(keyMode="inline"), KEYS)
    assert rendered.holds_secret
    assert CANARY_MOONSHOT.reveal() not in repr(rendered)
    assert not render_stack(spec()).holds_secret


def test_legacy_env_block_is_the_flat_clawdbot_form():
    config = rendered_dict(spec(keyMode="inline", legacyEnvBlock=True), KEYS)
    assert config["env"] == {"MOONSHOT_API_KEY": CANARY_MOONSHOT.reveal(),
                             "KIMICODE_API_KEY": CANARY_KIMICODE.reveal()}


def test_prod_cn_uses_the_china_endpoint_and_no_kimi_code(known_project):
    loaded = load_stack(known_project, "prod-cn")
    config = json5.loads(render_stack(loaded.spec).text)
    assert set(config["models"]["providers"]) == {"moonshot"}
    assert config["models"]["providers"]["moonshot"]["baseUrl"] == "https://api.moonshot.cn/v1"
    assert not any(ref.startswith("kimi-code/") for ref in config["agents"]["defaults"]["models"])


def test_overrides_change_exactly_the_fields_named():
    base = rendered_dict(spec())
    changed = rendered_dict(spec(modelOverrides={
        "moonshot/kimi-k2-thinking": {"contextWindow": 128000, "cost": {"input": 0.6}},
        "kimi-code/kimi-for-coding": {"name": "Kimi Code (team)", "maxTokens": 16384},
    }))
    expected = json5.loads(json5.dumps(base))
    thinking = expected["models"]["providers"]["moonshot"]["models"][2]
    thinking["contextWindow"] = 128000
    thinking["cost"]["input"] = 0.6
    coding = expected["models"]["providers"]["kimi-code"]["models"][0]
    coding["name"] = "Kimi Code (team)"
    coding["maxTokens"] = 16384
    assert changed == expected


def test_extra_models_aliases_and_primary():
    config = rendered_dict(spec(
        extraModels={"moonshot": [{"id": "kimi-k2-0711-preview", "name": "Kimi K2 0711", "contextWindow": 131072,
                                   "maxTokens": 8192, "alias": "K2 July"}]},
        aliases={"moonshot/kimi-k2-thinking": "Thinker"},
        primaryModel="kimi-code/kimi-for-coding",
    ))
    models = config["models"]["providers"]["moonshot"]["models"]
    assert models[-1] == {"id": "kimi-k2-0711-preview", "name": "Kimi K2 0711", "reasoning": False,
                          "input": ["text"], "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                          "contextWindow": 131072, "maxTokens": 8192}
    aliases = config["agents"]["defaults"]["models"]
    assert aliases["moonshot/kimi-k2-0711-preview"] == {"alias": "K2 July"}
    assert aliases["moonshot/kimi-k2-thinking"] == {"alias": "Thinker"}
    assert config["agents"]["defaults"]["model"]["primary"] == "kimi-code/kimi-for-coding"


def test_an_extra_model_renders_every_field_it_sets_but_its_alias():
    extra = {"id": "kimi-k2-custom", "name": "Custom", "reasoning": True, "input": ["text", "image"],
             "cost": {"input": 0.5, "output": 2, "cacheRead": 0.1, "cacheWrite": 0}, "contextWindow": 65536,
             "maxTokens": 4096, "headers": {"X-Team": "infra"}, "compat": {"supportsDeveloperRole": False}}
    config = rendered_dict(spec(extraModels={"moonshot": [{**extra, "alias": "Mine"}]}))
    assert config["models"]["providers"]["moonshot"]["models"][-1] == extra
    assert config["agents"]["defaults"]["models"]["moonshot/kimi-k2-custom"] == {"alias": "Mine"}


def test_same_input_same_bytes_and_hash():
    first = render_stack(spec())
    second = render_stack(spec())
    assert first.text == second.text and first.content_hash == second.content_hash


@pytest.mark.parametrize("stack", ["dev", "staging", "prod", "prod-cn"])
def test_every_shipped_stack_renders_and_round_trips(known_project, stack):
    loaded = load_stack(known_project, stack)
    rendered = render_stack(loaded.spec)
    assert parse(rendered.text) == assemble(loaded.spec)


def test_cli_writes_the_default_path_and_inline_mode_0600(tmp_path):
    project = make_project(tmp_path, {"t": dev_like(keyMode="inline")})
    env = {"MOONSHOT_API_KEY": CANARY_MOONSHOT.reveal(), "KIMICODE_API_KEY": CANARY_KIMICODE.reveal()}
    result = run_cli("--project-dir", str(project), "render", "--stack", "t", env=env)
    assert result.returncode == 0, result.stderr
    out = project / "build" / "t" / "openclaw.json5"
    assert out.stat().st_mode & 0o777 == 0o600
    assert CANARY_MOONSHOT.reveal() not in result.stdout + result.stderr
    reference = make_project(tmp_path / "ref", {"t": dev_like()})
    assert run_cli("--project-dir", str(reference), "render", "--stack", "t").returncode == 0
    assert (reference / "build" / "t" / "openclaw.json5").stat().st_mode & 0o777 == 0o644


def test_validate_command_accepts_rendered_files_and_rejects_swapped_keys(tmp_path):
    good = tmp_path / "good.json5"
    good.write_text(render_stack(spec()).text)
    bad = tmp_path / "bad.json5"
    bad.write_text(good.read_text().replace("${MOONSHOT_API_KEY}", "${KIMICODE_API_KEY}"))
    ok = run_cli("validate", str(good))
    assert ok.returncode == 0, ok.stderr
    failed = run_cli("validate", str(good), str(bad))
    assert failed.returncode == 1
    assert "models.providers.moonshot.apiKey" in failed.stderr and "bad.json5" in failed.stderr


# --- property: any valid spec renders, parses back and validates to the same config ----------

model_ids = st.from_regex(r"[a-z][a-z0-9-]{2,20}", fullmatch=True).filter(lambda s: not s.startswith("kimi-"))
numbers = st.one_of(st.integers(0, 10**6), st.floats(0, 1000, allow_nan=False, allow_infinity=False))
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)


@st.composite
def stack_specs(draw) -> StackSpec:
    region = draw(st.sampled_from(["global", "cn"]))
    providers = ["moonshot"] if region == "cn" else draw(st.sampled_from(
        [["moonshot"], ["kimi-code"], ["moonshot", "kimi-code"], ["kimi-code", "moonshot"]]))
    extras = draw(st.lists(model_ids, max_size=3, unique=True))
    extra_models = {providers[0]: [
        {"id": i, "name": draw(texts), "reasoning": draw(st.booleans()),
         "input": draw(st.sampled_from([["text"], ["text", "image"]])),
         "contextWindow": draw(st.integers(1, 2**31)), "maxTokens": draw(st.integers(1, 2**20)),
         "cost": {"input": draw(numbers), "output": draw(numbers), "cacheRead": 0, "cacheWrite": draw(numbers)},
         "alias": f"extra {n}"}
        for n, i in enumerate(extras)
    ]} if extras else {}
    overrides = {}
    if "moonshot" in providers and draw(st.booleans()):
        overrides["moonshot/kimi-k2-thinking"] = {"contextWindow": draw(st.integers(1, 10**7)),
                                                  "name": draw(texts), "cost": {"output": draw(numbers)}}
    return StackSpec.model_validate({
        "stack": "prop", "region": region, "providers": providers,
        "keyMode": draw(st.sampled_from(["reference", "inline", "secretref"])),
        "resolver": {"command": "/opt/kimi-infra/bin/kimi-infra-resolve"},
        # secretref reads the store named in the rendered args: a local store must be absolute
        "secretStore": {"kind": "local", "path": "/var/lib/kimi-infra/prop/secrets.json"},
        "extraModels": extra_models, "modelOverrides": overrides,
        "targets": [{"kind": "file", "path": "x.json5"}],
    })


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack_specs(), st.text(min_size=1, max_size=40).filter(str.strip))
def test_render_parse_validate_round_trip(stack_spec, key):
    keys = {"moonshot": Secret(key + "m"), "kimi-code": Secret(key + "k")}
    config = assemble(stack_spec, keys)
    rendered = render(config)
    assert parse(rendered.text) == config
    assert render(parse(rendered.text)).text == rendered.text


def test_out_to_a_fifo_writes_into_it_and_never_replaces_it(tmp_path, known_project):
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    result = run_cli("render", "--stack", "dev", "--out", str(fifo), cwd=known_project)
    reader.join(timeout=30)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received == [run_cli("render", "--stack", "dev", "--out", "-", cwd=known_project).stdout]


def test_atomic_write_refuses_to_rename_over_a_special_file(tmp_path, known_project):
    import os

    from kimi_infra.atomic import write_atomic

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(IsADirectoryError):
        write_atomic(fifo, b"x", 0o644)
    folder = run_cli("render", "--stack", "dev", "--out", str(tmp_path), cwd=known_project)
    assert folder.returncode == 2 and "is a folder" in folder.stderr


def test_a_key_no_config_can_hold_is_refused_without_quoting_it():
    from kimi_infra.errors import SpecError

    huge = Secret("sk-LEAK-" + "A" * 70_000 + "-TAIL")
    with pytest.raises(SpecError) as caught:
        render_stack(spec(keyMode="inline"), {"moonshot": huge, "kimi-code": CANARY_KIMICODE})
    text = str(caught.value)
    assert "MOONSHOT_API_KEY" in text and "65536" in text and "LEAK" not in text and "TAIL" not in text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stack_specs(), st.text(min_size=1, max_size=40).filter(str.strip))
def test_the_writer_gives_the_same_bytes_from_models_dumps_and_fresh_copies(stack_spec, key):
    """render writes straight from the models and keeps the catalog models' text (issue 23): the
    same bytes as writing the model_dump(exclude_none=True) tree, and as a deep copy, which shares
    no object with the catalog."""
    from kimi_infra.render import _value

    keys = {"moonshot": Secret(key + "m"), "kimi-code": Secret(key + "k")}
    config = assemble(stack_spec, keys)
    text = render(config).text
    assert text == _value(config.model_dump(exclude_none=True), 0) + "\n"
    assert text == render(config.model_copy(deep=True)).text == render(config).text
