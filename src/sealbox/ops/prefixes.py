"""Which etcd key ranges a job walks: the resources named, or those a config encrypts.

Every range is a key prefix ending in ``/`` (``/registry/secrets/``), so ``/registry/secret`` never
takes in ``/registry/secretstores/``. Resource names are checked first (see
:func:`sealbox.storage.resource_name`): a misspelt ``-r`` is an error, never an empty walk.

:func:`config_prefixes` is what ``rewrap`` reads by default: only the resources the
EncryptionConfiguration's entries cover, so a rewrap of Secrets does not read every Event and
Lease in the cluster. Wildcards are walked as what they match: ``*.*`` is the whole prefix, ``*.``
every core resource, ``*.<group>`` every built-in resource of the group (or the group's own
``<group>/`` range for custom resources).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sealbox.encryption import EncryptionConfiguration, GroupResource, covers, parse_group_resource
from sealbox.errors import InputError
from sealbox.storage import (
    builtin_groups,
    builtin_resources,
    registry_prefix,
    resource_name,
    storage_prefix,
)

__all__ = ["config_prefixes", "scan_prefixes"]


def _named(name: str) -> GroupResource:
    try:
        group, resource = resource_name(name)
    except InputError as exc:
        raise InputError(f"--resource {exc}") from None
    return GroupResource(group, resource)


def _prefix(base: bytes, gr: GroupResource) -> bytes:
    return base + storage_prefix(gr.group, gr.resource).encode() + b"/"


def scan_prefixes(etcd_prefix: str, resource_names: Sequence[str]) -> list[bytes]:
    """The etcd key prefixes to walk: the whole ``--etcd-prefix``, or one per resource named.

    Raises:
        InputError: a resource name is a wildcard, misspelt or otherwise not a resource (the
            message suggests the likely name).
    """
    base = registry_prefix(etcd_prefix)
    if not resource_names:
        return [base]
    return _distinct(_prefix(base, _named(name)) for name in resource_names)


def config_prefixes(
    config: EncryptionConfiguration,
    etcd_prefix: str,
    resource_names: Sequence[str] = (),
    *,
    all_resources: bool = False,
) -> list[bytes]:
    """The prefixes of the resources ``config`` covers (see the module doc), in key order.

    ``resource_names`` narrows them (each must be covered); ``all_resources`` walks the whole
    ``--etcd-prefix`` on purpose.

    Raises:
        InputError: a resource name is unusable or not covered by any entry, or both
            ``resource_names`` and ``all_resources`` are given.
    """
    base = registry_prefix(etcd_prefix)
    if all_resources:
        if resource_names:
            raise InputError("--all-resources and --resource exclude each other; give one")
        return [base]
    if resource_names:
        named = [_named(name) for name in resource_names]
        for name, gr in zip(resource_names, named, strict=True):
            if not any(covers(entry.resources, gr) for entry in config.resources):
                raise InputError(
                    f"--resource {name!r}: {config.source} has no entry for {gr}, so there is "
                    f"nothing to rewrap it with; its entries cover {_covered(config)}"
                )
        return _distinct(_prefix(base, gr) for gr in named)
    found: list[bytes] = []
    for text in _covered_names(config):
        gr = parse_group_resource(text)
        if gr.group == "*":  # ``*.*``: everything under the prefix
            return [base]
        found.extend(_wildcard_prefixes(base, gr) if gr.is_wildcard else [_prefix(base, gr)])
    return _distinct(found)


def _wildcard_prefixes(base: bytes, gr: GroupResource) -> list[bytes]:
    """``*.`` or ``*.<group>``: each built-in resource of the group, else the group's range."""
    if gr.group and gr.group not in builtin_groups():
        return [base + gr.group.encode() + b"/"]
    return [_prefix(base, GroupResource(gr.group, name)) for name in builtin_resources(gr.group)]


def _covered_names(config: EncryptionConfiguration) -> list[str]:
    return [text for entry in config.resources for text in entry.resources]


def _covered(config: EncryptionConfiguration) -> str:
    return ", ".join(dict.fromkeys(_covered_names(config))) or "nothing"


def _distinct(prefixes: Iterable[bytes]) -> list[bytes]:
    """Sorted, each once, without those inside another (``/registry/`` takes in the rest)."""
    kept: list[bytes] = []
    for prefix in sorted(set(prefixes)):
        if not kept or not prefix.startswith(kept[-1]):
            kept.append(prefix)
    return kept
