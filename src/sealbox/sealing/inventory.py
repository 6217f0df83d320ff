"""Which key sealed each value: the inventory that lets old sealing keys be retired safely.

Upstream values carry no key id, so users script trial decryptions before pruning keys. Here:

- an envelope value names its keys (:func:`~.envelope.envelope_key_ids`): each is named by a
  certificate or private key given that has that fingerprint, else by the fingerprint itself;
- an upstream value is opened by trial with the private keys given (:class:`~.keyring.KeySet`),
  under the SealedSecret's own scope label, and named by the key that opens it;
- anything else is ``unknown`` (no key given opens it) or ``invalid`` (not base64, cut short).

The summary counts values per key; a key no value needs any more may be retired (after every
repository and cluster has been inventoried). Pure: documents in, records out; the CLI walks
directories and renders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sealbox.errors import NoMatchingKey, UnsealError
from sealbox.sealing.encoding import decode_value
from sealbox.sealing.envelope import envelope_key_ids, is_envelope
from sealbox.sealing.keyring import KeySet
from sealbox.sealing.scope import label_for, scope_from_annotations

__all__ = [
    "INVALID",
    "UNKNOWN",
    "ValueRecord",
    "inventory",
    "is_sealed_secret",
    "summary",
]

UNKNOWN = "unknown"
"""The key of an upstream value that no private key given opens."""
INVALID = "invalid"
"""The key of a value that is not a sealed value at all (bad base64, cut short)."""
_GCM_TAG = 16


@dataclass(frozen=True, slots=True)
class ValueRecord:
    """One ``encryptedData`` item and the key(s) that sealed it (never its value)."""

    source: str
    namespace: str
    name: str
    item: str
    format: str  # "envelope", "upstream" or "invalid"
    keys: tuple[str, ...]  # names: a given cert/key's name, a fingerprint, UNKNOWN or INVALID
    fingerprints: tuple[str, ...] = field(default=())


def is_sealed_secret(document: Any) -> bool:
    return (
        isinstance(document, Mapping)
        and document.get("kind") == "SealedSecret"
        and str(document.get("apiVersion", "")).startswith("bitnami.com/")
    )


def inventory(
    documents: Iterable[tuple[str, Any]],
    keys: KeySet,
    names: Mapping[str, str] | None = None,
) -> list[ValueRecord]:
    """A record per item of every SealedSecret among ``documents`` ((source, document) pairs;
    other documents are skipped). ``names`` maps fingerprints to display names (the files the
    certificates and keys came from)."""
    names = names or {}
    records = []
    for source, document in documents:
        if not is_sealed_secret(document):
            continue
        metadata = _mapping(document.get("metadata"))
        encrypted = _mapping(_mapping(document.get("spec")).get("encryptedData"))
        namespace, name = str(metadata.get("namespace", "")), str(metadata.get("name", ""))
        scope = scope_from_annotations(_mapping(metadata.get("annotations")))
        label = label_for(scope, namespace, name)
        for item in sorted(encrypted):
            records.append(
                _record(source, namespace, name, str(item), encrypted[item], label, keys, names)
            )
    return records


def _well_formed(value: bytes) -> bool:
    """An upstream value's shape: a 2-byte length, that many RSA bytes, then at least the GCM
    tag (spec §1.2); anything else is invalid whichever keys are given."""
    if len(value) < 2:
        return False
    return 2 + int.from_bytes(value[:2], "big") + _GCM_TAG <= len(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _record(
    source: str,
    namespace: str,
    name: str,
    item: str,
    text: Any,
    label: bytes,
    keys: KeySet,
    names: Mapping[str, str],
) -> ValueRecord:
    where = (source, namespace, name, item)
    if not isinstance(text, str):
        return ValueRecord(*where, "invalid", (INVALID,))
    try:
        value = decode_value(text, item)
        if is_envelope(value):
            ids = envelope_key_ids(value)
            return ValueRecord(*where, "envelope", tuple(names.get(i, i) for i in ids), ids)
    except UnsealError:
        return ValueRecord(*where, "invalid", (INVALID,))
    if not _well_formed(value):
        return ValueRecord(*where, "invalid", (INVALID,))
    try:
        fingerprint = keys.opened_by(value, label)
    except NoMatchingKey:
        return ValueRecord(*where, "upstream", (UNKNOWN,))
    except UnsealError:
        return ValueRecord(*where, "invalid", (INVALID,))
    return ValueRecord(*where, "upstream", (names.get(fingerprint, fingerprint),), (fingerprint,))


def summary(records: Sequence[ValueRecord], known: Iterable[str] = ()) -> dict[str, int]:
    """Values per key name, most first; every name in ``known`` (the keys given) appears, with 0
    when no value needs it: those are the keys that may be retired."""
    counts: Counter[str] = Counter()
    for record in records:
        counts.update(record.keys)
    for name in known:
        counts.setdefault(name, 0)
    return dict(sorted(counts.items(), key=lambda pair: (-pair[1], pair[0])))
