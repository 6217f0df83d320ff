"""The staged EncryptionConfiguration files of one rotation, computed and checked up front (pure).

A rotation retires the first (writing) provider or key of every ``resources[]`` entry that
encrypts, in five stages: ``add`` the new key or provider second (every apiserver can read with
it before any writes with it), ``promote`` it first (new writes use it), ``reencrypt`` every
object, ``verify`` nothing is left under the old one, ``remove`` the old one. Only ``add``,
``promote`` and ``remove`` change the file; each of those files is built here and must pass the
apiserver's own validation (``parse_config(..., reload=True)``) before it is part of a plan.

* A target of the first provider's own type gets a new key in that provider: second, then
  first, then the provider's old keys are removed.
* Another type (or a KMS provider) is a new provider: second, then first, then the old first
  provider is removed. ``kms:<name>`` reuses a KMS v2 provider of that name from the file (an
  entry already writing with it rotates its KEK in the plugin: no file change), else adds one at
  ``--kms-endpoint``. kube-apiserver wants KMS names unique in a file, so a KMS target rotates
  one entry.
* Everything else stays where it is: identity fallbacks, older providers and keys, entries whose
  first provider is identity (encryption is off there: rotating would not help).

New keys come from ``new_key`` (:func:`~sealbox.encryption.generate_key`, 32 bytes) and are named
``key-<UTC time>``; a key's value exists only in the staged bytes, never in a summary, repr or
error. The plan is a function of its inputs: tests pass ``now`` and ``new_key``. YAML is written
with ``yaml.safe_dump(sort_keys=False)``, so comments are not kept (the backups keep them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from sealbox.encryption import (
    EncryptionConfiguration,
    KeyKind,
    generate_key,
    parse_config,
)
from sealbox.errors import ConfigError, InputError
from sealbox.rotate.entries import (
    EntryRotation,
    key_name,
    new_key_rotation,
    new_provider,
    to_kms,
)
from sealbox.rotate.target import Target, parse_target

__all__ = ["STAGES", "RotationPlan", "Stage", "plan_rotation"]

STAGES = ("add", "promote", "reencrypt", "verify", "remove")
_FILE_STAGES = ("add", "promote", "remove")
_KMS_TIMEOUT = "3s"


@dataclass(frozen=True, slots=True)
class Stage:
    """One step: its ``name`` (see :data:`STAGES`), the file it writes (``None``: the file does
    not change) and a one-line ``summary`` naming keys and providers, never a key's value."""

    name: str
    config: bytes | None = field(repr=False)
    summary: str

    def __repr__(self) -> str:
        size = "None" if self.config is None else f"<{len(self.config)} bytes>"
        return f"Stage(name={self.name!r}, config={size}, summary={self.summary!r})"


@dataclass(frozen=True, slots=True)
class RotationPlan:
    """What one rotation does: the ``entries`` (``resources[]`` indexes) that rotate, what is
    retired (``old``) and what replaces it (``new``), the resource patterns those entries cover,
    and the five stages in order."""

    target: str
    entries: tuple[int, ...]
    old: str
    new: str
    resources: tuple[str, ...]
    stages: tuple[Stage, ...]

    @property
    def plan_id(self) -> str:
        """Names this exact plan (target and staged bytes): a resumed run checks it is the same."""
        digest = hashlib.sha256(self.target.encode())
        for stage in self.stages:
            digest.update(b"\0" + stage.name.encode() + b"\0" + (stage.config or b"-"))
        return "plan-" + digest.hexdigest()[:16]

    def stage(self, name: str) -> Stage:
        """The stage called ``name``.

        Raises:
            KeyError: no such stage.
        """
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(name)


def plan_rotation(
    text: str,
    source: str,
    target: str,
    *,
    kms_endpoint: str | None = None,
    now: datetime,
    new_key: Callable[[KeyKind], str] = generate_key,
) -> RotationPlan:
    """The staged files that rotate the file ``text`` (named ``source``) to ``target``.

    Raises:
        ConfigError: ``text`` is not a valid EncryptionConfiguration.
        InputError: ``target`` or ``kms_endpoint`` is unusable, nothing encrypts so nothing can
            rotate, a KMS provider of that name is v1 or sits at another endpoint, or a staged
            file would not load; one line naming the flag, file or entry.
    """
    goal = parse_target(target)
    config = parse_config(text, source, reload=True)
    document = _plain(yaml.safe_load(text))
    kms_block = _kms_block(goal, config, document, source, kms_endpoint)
    rotated = [e for e in config.resources if e.providers[0].type != "identity"]
    if not rotated:
        raise InputError(
            f"{source}: nothing to rotate: every resources[] entry writes with identity "
            "(encryption is off); put an encrypting provider first, then rotate"
        )
    indexes = tuple(_index(entry.path) for entry in rotated)
    if goal.kind == "kms":
        _check_kms_unique(goal, config, indexes, source)
    base_name = key_name(now)
    entries = []
    for entry, index in zip(rotated, indexes, strict=True):
        raw = document["resources"][index]["providers"]
        if goal.kind == "kms":
            entries.append(to_kms(index, raw, entry.providers, goal.name, kms_block))
        elif entry.providers[0].type == goal.kind:
            entries.append(new_key_rotation(index, raw, entry.providers[0], base_name, new_key))
        else:
            entries.append(
                new_provider(index, raw, entry.providers[0], goal.kind, base_name, new_key)
            )
    resources = _unique(name for entry in rotated for name in entry.resources)
    stages = _stages(document, entries, resources, source)
    return RotationPlan(
        target=str(goal),
        entries=indexes,
        old=_joined([(e.index, e.old) for e in entries]),
        new=_joined([(e.index, e.new) for e in entries]),
        resources=resources,
        stages=stages,
    )


def _plain(value: Any) -> Any:
    """A fresh copy of the loaded YAML with no shared parts (aliases become copies)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _index(path: str) -> int:
    """``resources[3]`` -> 3."""
    return int(path.partition("[")[2].rstrip("]"))


def _unique(items: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _joined(items: list[tuple[int, str]]) -> str:
    if len({text for _, text in items}) == 1:
        return items[0][1]
    return "; ".join(f"{text} (resources[{index}])" for index, text in items)


def _kms_block(
    goal: Target,
    config: EncryptionConfiguration,
    document: dict[str, Any],
    source: str,
    endpoint: str | None,
) -> dict[str, Any]:
    """The provider element a ``kms:<name>`` target writes ({} for a static target)."""
    if goal.kind != "kms":
        if endpoint is not None:
            raise InputError(f"--kms-endpoint is only for --to kms:<name>, not --to {goal}")
        return {}
    for entry in config.resources:
        for position, provider in enumerate(entry.providers):
            kms = provider.kms
            if kms is None or kms.name != goal.name:
                continue
            where = f"{source}: {provider.path}"
            if kms.api_version != "v2":
                raise InputError(
                    f"{where}: kms provider {kms.name} is KMS v1 (deprecated): rotate to a "
                    "KMS v2 provider under another name (--to kms:<new name> --kms-endpoint ...)"
                )
            if endpoint is not None and endpoint != kms.endpoint:
                raise InputError(
                    f"--kms-endpoint {endpoint}: {where} already names kms provider {kms.name} "
                    f"at {kms.endpoint}; drop --kms-endpoint to use it, or pick another name"
                )
            element: dict[str, Any] = document["resources"][_index(entry.path)]["providers"][
                position
            ]
            return element
    if endpoint is None:
        raise InputError(
            f"--kms-endpoint is required: {source} has no kms provider named {goal.name} "
            "(give the plugin's socket, e.g. --kms-endpoint unix:///var/run/kms-plugin.sock)"
        )
    element = {
        "kms": {
            "apiVersion": "v2",
            "name": goal.name,
            "endpoint": endpoint,
            "timeout": _KMS_TIMEOUT,
        }
    }
    probe = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [element]}],
    }
    try:
        parse_config(yaml.safe_dump(probe, sort_keys=False), "--kms-endpoint", reload=True)
    except ConfigError as exc:
        raise InputError(f"--kms-endpoint {endpoint!r}: {exc.issues[0].message}") from None
    return element


def _check_kms_unique(
    goal: Target, config: EncryptionConfiguration, rotated: tuple[int, ...], source: str
) -> None:
    """A KMS v2 name appears once per file (V18): refuse a plan that would list it twice."""
    holders = set(rotated)
    for entry in config.resources:
        if any(p.kms is not None and p.kms.name == goal.name for p in entry.providers):
            holders.add(_index(entry.path))
    if len(holders) > 1:
        where = ", ".join(f"resources[{i}]" for i in sorted(holders))
        raise InputError(
            f"{source}: --to {goal}: kube-apiserver allows a kms provider name once per file, "
            f"but {where} would all list {goal.name}; merge them into one entry first, "
            "or rotate them to static keys"
        )


def _stages(
    document: dict[str, Any],
    entries: list[EntryRotation],
    resources: tuple[str, ...],
    source: str,
) -> tuple[Stage, ...]:
    covered = ", ".join(resources)
    new = _joined([(e.index, e.new) for e in entries])
    old = _joined([(e.index, e.old) for e in entries])
    stages: list[Stage] = []
    previous = document
    for name in STAGES:
        if name == "reencrypt":
            summary = f"rewrite every stored object of {covered} so it is stored under {new}"
            stages.append(Stage(name, None, summary))
            continue
        if name == "verify":
            summary = f"check that no stored value of {covered} still uses {old}"
            stages.append(Stage(name, None, summary))
            continue
        staged = _plain(document)
        for entry in entries:
            staged["resources"][entry.index]["providers"] = _plain(getattr(entry, name))
        summary = "; ".join(f"resources[{e.index}]: {e.notes[name]}" for e in entries)
        data = None if staged == previous else _dump(staged, source, name)
        previous = staged
        stages.append(Stage(name, data, summary))
    return tuple(stages)


def _dump(document: dict[str, Any], source: str, stage: str) -> bytes:
    text = yaml.safe_dump(document, sort_keys=False, default_flow_style=False)
    try:
        parse_config(text, f"{source} ({stage} stage)", reload=True)
    except ConfigError as exc:
        raise InputError(
            f"{source}: the file of the {stage} stage would not load: {exc.issues[0]}"
        ) from None
    return text.encode("utf-8")
