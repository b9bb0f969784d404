"""What every contract shares: the two base classes, and the names several documents use."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

TaskKind = Literal["text", "image"]
Objective = Literal["maximize_quality", "minimize_latency", "maximize_throughput", "minimize_size"]


def absent_if_none(value: object) -> bool:
    """`exclude_if` of an optional field written only when it has a value (older documents lack it)."""
    return value is None


class Strict(BaseModel):
    """A document this code base writes and reads in the same version: an unknown key is an error, so a key
    renamed on one side only fails where it is read, naming it."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Kept(BaseModel):
    """A document stores keep across code versions (a variant's metadata): reading keeps keys it does not know
    (written by older or newer code, kept in `model_extra`, read by nobody); writing refuses them
    (`unknown_keys`), so a misspelt key never reaches a store."""

    model_config = ConfigDict(extra="allow", frozen=True)


def unknown_keys(model: BaseModel, prefix: str = "") -> list[str]:
    """Dotted paths of the keys no field declares, in `model` and every model nested in it."""
    found = [f"{prefix}{key}" for key in model.model_extra or {}]
    for name, field in type(model).model_fields.items():
        found += _unknown_in(getattr(model, name), f"{prefix}{field.alias or name}.")  # the key as stored
    return found


def _unknown_in(value: Any, prefix: str) -> list[str]:
    if isinstance(value, BaseModel):
        return unknown_keys(value, prefix)
    if isinstance(value, dict):
        return [key for name, item in value.items() for key in _unknown_in(item, f"{prefix}{name}.")]
    if isinstance(value, list | tuple):
        return [key for index, item in enumerate(value) for key in _unknown_in(item, f"{prefix}[{index}].")]
    return []
