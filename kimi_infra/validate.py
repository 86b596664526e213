"""Check an OpenClaw config file against our model and the catalog's key rules."""

from __future__ import annotations

from pathlib import Path

from kimi_infra.catalog import PROVIDERS
from kimi_infra.errors import KimiInfraError, SpecError, validation_to_spec_error
from kimi_infra.models import OpenClawConfig, is_env_reference
from kimi_infra.render import parse


def validate_file(path: Path) -> OpenClawConfig:
    """Parse and validate one file; SpecError names the file, the field and the fix."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise KimiInfraError(f"{source}: cannot read: {error.strerror}") from None
    except UnicodeDecodeError as error:  # its text would quote bytes of the file
        raise SpecError(source, "document", f"is not UTF-8 text (byte {error.start})",
                        "save the file as UTF-8") from None
    return validate_text(text, source)


def validate_text(text: str, source: str) -> OpenClawConfig:
    """Validate rendered or hand-written JSON5 text."""
    from pydantic import ValidationError

    try:
        config = parse(text)
    except ValidationError as error:
        raise validation_to_spec_error(error, source) from None
    except ValueError as error:
        # json5's messages give line and column; they quote at most the offending character.
        raise SpecError(source, "document", f"not valid JSON5 ({error})", "fix the syntax at that position") from None
    _check_key_references(config, source)
    return config


def _check_key_references(config: OpenClawConfig, source: str) -> None:
    """Moonshot and Kimi Code keys are not interchangeable: each must name its own variable."""
    for name, provider in config.models.providers.items():
        info = PROVIDERS.get(name)
        if info is None or not isinstance(provider.apiKey, str):
            continue
        variable = is_env_reference(provider.apiKey)
        if variable is not None and variable != info.env_var:
            raise SpecError(source, f"models.providers.{name}.apiKey",
                            f"references ${{{variable}}}, but {name} keys live in ${{{info.env_var}}}",
                            f"use \"${{{info.env_var}}}\" (Moonshot and Kimi Code keys are not interchangeable)")
