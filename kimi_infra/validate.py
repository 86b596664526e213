"""Check an OpenClaw config file against our model and the catalog's key rules."""

from __future__ import annotations

from pathlib import Path

from kimi_infra.catalog import PROVIDERS
from kimi_infra.errors import SpecError, parse_file, validation_to_spec_error
from kimi_infra.models import OpenClawConfig, is_env_reference
from kimi_infra.render import parse


def validate_file(path: Path) -> OpenClawConfig:
    """Parse and validate one file; SpecError names the file, the field and the fix."""
    return parse_file(path, str(path), validate_text)


def validate_text(text: str) -> OpenClawConfig:
    """Validate rendered or hand-written JSON5 text; SpecError names the field, not the file."""
    from pydantic import ValidationError

    try:
        config = parse(text)
    except ValidationError as error:
        raise validation_to_spec_error(error) from None
    except ValueError as error:
        # json5's messages give line and column; they quote at most the offending character.
        raise SpecError("document", f"not valid JSON5 ({error})", "fix the syntax at that position") from None
    _check_key_references(config)
    return config


def _check_key_references(config: OpenClawConfig) -> None:
    """Moonshot and Kimi Code keys are not interchangeable: each must name its own variable."""
    for name, provider in config.models.providers.items():
        info = PROVIDERS.get(name)
        if info is None or not isinstance(provider.apiKey, str):
            continue
        variable = is_env_reference(provider.apiKey)
        if variable is not None and variable != info.env_var:
            raise SpecError(f"models.providers.{name}.apiKey",
                            f"references ${{{variable}}}, but {name} keys live in ${{{info.env_var}}}",
                            f"use \"${{{info.env_var}}}\" (Moonshot and Kimi Code keys are not interchangeable)")
