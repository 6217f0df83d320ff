"""plugin.yaml sections as pydantic models, and their validation errors as advice.

Every backend's ``Config`` is a :class:`BackendSettings`; nested sections are
:class:`SettingsModel`. :func:`validation_issues` turns pydantic's errors into
:class:`~sealbox.errors.ConfigIssue` at the path the YAML file writes (camelCase keys, list
indexes in brackets), worded for the person editing the file: what is wrong and what would be
valid, never pydantic's internals, and never the value given (a misplaced credential must not be
echoed).
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterator, Sequence
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from sealbox.errors import ConfigIssue

__all__ = ["BackendSettings", "SettingsModel", "validation_issues"]


class SettingsModel(BaseModel):
    """Base of every plugin.yaml section a backend reads: camelCase keys, unknown keys rejected."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class BackendSettings(SettingsModel):
    """Base of every backend's ``Config``, one ``backends`` entry of plugin.yaml.

    ``type`` names the backend; each backend's ``Config`` narrows it to its own literal.
    Credentials are never config values: a backend reads them from a file path or an environment
    variable named in its config, so plugin.yaml can be shared and logged.
    """

    type: str


def validation_issues(
    exc: ValidationError, prefix: str = "", *, model: type[BaseModel] | None = None
) -> list[ConfigIssue]:
    """One issue per pydantic error, at its plugin.yaml path under ``prefix``.

    ``model`` (the one that raised) lets an unknown field suggest the field it was likely meant
    to be.
    """
    known = sorted(set(_field_names(model))) if model is not None else []
    issues = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = _yaml_path(error["loc"])
        path = f"{prefix}.{loc}" if prefix and loc else prefix or loc
        issues.append(ConfigIssue(path, _advice(error["type"], str(error["msg"]), loc, known)))
    return issues


def _advice(kind: str, message: str, loc: str, known: Sequence[str]) -> str:
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind == "missing":
        return "required: add this field"
    if kind == "extra_forbidden":
        field = loc.rsplit(".", 1)[-1]
        close = difflib.get_close_matches(field, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else " (fields are camelCase, e.g. keyFile)"
        return f"unknown field{hint}"
    if kind == "bool_parsing" or kind == "bool_type":
        return "expected true or false"
    return message.replace("Input should be", "expected", 1)


def _field_names(model: type[BaseModel]) -> Iterator[str]:
    """Every YAML key ``model`` and the models nested in it accept."""
    for name, info in model.model_fields.items():
        yield info.alias or name
        yield from _nested(info.annotation)


def _nested(annotation: Any) -> Iterator[str]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield from _field_names(annotation)
        return
    if get_origin(annotation) in (Union, types.UnionType) or get_args(annotation):
        for argument in get_args(annotation):
            yield from _nested(argument)


def _yaml_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + (to_camel(part) if "_" in part else part)
    return out
