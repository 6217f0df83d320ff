"""One ``resources[]`` entry's providers list at each file stage of a rotation (pure).

Three shapes, chosen by :mod:`sealbox.rotate.plan`: a new key in the first provider
(:func:`new_key_rotation`, the target is the first provider's type), a new static provider
(:func:`new_provider`), and a KMS v2 provider (:func:`to_kms`: reused where the entry lists it,
else added). Each returns an :class:`EntryRotation`: the raw YAML elements of the list after
``add``, ``promote`` and ``remove``, what retires and what replaces it (named, never a value),
and one note per stage for the plan's summaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sealbox.encryption import KeyKind, ProviderConfiguration

__all__ = ["FILE_STAGES", "EntryRotation", "key_name", "new_key_rotation", "new_provider", "to_kms"]

FILE_STAGES = ("add", "promote", "remove")


@dataclass(frozen=True, slots=True)
class EntryRotation:
    """One entry's providers list after each file stage (the raw YAML elements)."""

    index: int
    old: str
    new: str
    add: list[Any]
    promote: list[Any]
    remove: list[Any]
    notes: dict[str, str]  # stage -> what it does to this entry


def key_name(now: datetime) -> str:
    stamp = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return stamp.astimezone(UTC).strftime("key-%Y%m%dt%H%M%S")


def _free_name(base: str, taken: set[str]) -> str:
    name, number = base, 1
    while name in taken:
        number += 1
        name = f"{base}-{number}"
    return name


def _keys_text(kind: str, names: list[str]) -> str:
    label = "key" if len(names) == 1 else "keys"
    return f"{kind} {label} {', '.join(names)}"


def _describe(provider: ProviderConfiguration) -> str:
    """``aescbc key key1``, ``aesgcm keys a, b`` or ``kms provider a`` (never a value)."""
    if provider.kms is not None:
        return f"kms {provider.kms.api_version} provider {provider.kms.name}"
    return _keys_text(provider.type, [key.name for key in provider.keys])


def new_key_rotation(
    index: int,
    raw: list[Any],
    first: ProviderConfiguration,
    base_name: str,
    make_key: Callable[[KeyKind], str],
) -> EntryRotation:
    """Same type: a new key in the first provider, second, then first; then only it."""
    kind: KeyKind = _static_kind(first.type)
    name = _free_name(base_name, {key.name for key in first.keys})
    fresh = {"name": name, "secret": make_key(kind)}
    old_keys = list(raw[0][kind]["keys"])

    def with_keys(keys: list[Any]) -> list[Any]:
        return [{**raw[0], kind: {**raw[0][kind], "keys": keys}}, *raw[1:]]

    old = _keys_text(kind, [key.name for key in first.keys])
    new = f"{kind} key {name}"
    return EntryRotation(
        index,
        old,
        new,
        add=with_keys([old_keys[0], fresh, *old_keys[1:]]),
        promote=with_keys([fresh, *old_keys]),
        remove=with_keys([fresh]),
        notes={
            "add": f"add {new} second, after {kind} key {first.keys[0].name}",
            "promote": f"move {new} first (new writes use it); {old} {_stay(first.keys)} to read",
            "remove": f"remove {old}",
        },
    )


def _stay(keys: tuple[object, ...]) -> str:
    return "stays" if len(keys) == 1 else "stay"


def _static_kind(kind: str) -> KeyKind:
    if kind == "aescbc":
        return "aescbc"
    if kind == "secretbox":
        return "secretbox"
    return "aesgcm"


def new_provider(
    index: int,
    raw: list[Any],
    first: ProviderConfiguration,
    kind_name: str,
    base_name: str,
    make_key: Callable[[KeyKind], str],
) -> EntryRotation:
    """Another static type: a new provider, second, then first; then the old first one goes."""
    kind = _static_kind(kind_name)
    element = {kind: {"keys": [{"name": base_name, "secret": make_key(kind)}]}}
    old, new = _describe(first), f"{kind} key {base_name}"
    return EntryRotation(
        index,
        old,
        new,
        add=[raw[0], element, *raw[1:]],
        promote=[element, *raw],
        remove=[element, *raw[1:]],
        notes={
            "add": f"add {new} second, after {old}",
            "promote": f"move {new} first (new writes use it); {old} stays to read",
            "remove": f"remove {old}",
        },
    )


def to_kms(
    index: int,
    raw: list[Any],
    providers: tuple[ProviderConfiguration, ...],
    name: str,
    block: dict[str, Any],
) -> EntryRotation:
    """To a KMS v2 provider: reuse its place in this entry if listed, else add it second."""
    first = providers[0]
    new = f"kms v2 provider {name}"
    if first.kms is not None and first.kms.name == name:
        same = "no file change: kms v2 provider {name} already writes; its plugin rotates the KEK"
        return EntryRotation(
            index,
            f"{new} (its previous KEK)",
            f"{new} (its current KEK)",
            add=raw,
            promote=raw,
            remove=raw,
            notes={stage: same.format(name=name) for stage in FILE_STAGES},
        )
    old = _describe(first)
    listed = [i for i, p in enumerate(providers) if p.kms is not None and p.kms.name == name]
    if listed:
        element = raw[listed[0]]
        rest = [item for i, item in enumerate(raw) if i != listed[0]]
        add, add_note = raw, f"{new} is already listed, so it reads already (no change)"
    else:
        element, rest = block, raw
        add, add_note = [raw[0], element, *raw[1:]], f"add {new} second, after {old}"
    return EntryRotation(
        index,
        old,
        new,
        add=add,
        promote=[element, *rest],
        remove=[element, *rest[1:]],
        notes={
            "add": add_note,
            "promote": f"move {new} first (new writes use it); {old} stays to read",
            "remove": f"remove {old}",
        },
    )
