"""SBX-210: a Secret whose ``last-applied-configuration`` annotation repeats its values.

``kubectl apply`` (client-side) stores the whole applied object, ``data`` and ``stringData``
included, as JSON in the ``kubectl.kubernetes.io/last-applied-configuration`` annotation. For a
Secret that copies every value into metadata: whoever can read metadata (a metadata-only list,
``kubectl get secrets -o yaml`` of an export, a backup of annotations) reads the values, and they
outlive a rotation done with ``kubectl edit`` or a controller, which leaves the annotation as it
was. The same annotation in an exported manifest in a repository repeats the values there.

The annotation is parsed here and only its key *names* are reported; its value is never copied.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence

from sealbox.audit.checks._sensitive import is_literal
from sealbox.audit.model import Control, Finding, Manifest, Severity

__all__ = ["CONTROLS", "LAST_APPLIED", "LAST_APPLIED_SECRET", "check"]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

LAST_APPLIED_SECRET = Control(
    id="SBX-210",
    title="Secret values repeated in the last-applied-configuration annotation",
    severity=Severity.HIGH,
    rationale=(
        "Client-side kubectl apply stores the applied object, values included, as JSON in the "
        f"{LAST_APPLIED} annotation "
        "(https://kubernetes.io/docs/tasks/manage-kubernetes-objects/declarative-config/). "
        "Anyone who can read the Secret's metadata reads its values, and they survive a "
        "rotation made with kubectl edit or by a controller, which leaves the annotation as it "
        "was."
    ),
    remediation=(
        "Apply Secrets with server-side apply (kubectl apply --server-side) or create them "
        "with kubectl create; remove the annotation (kubectl annotate secret NAME "
        f"{LAST_APPLIED}-) and rotate the values it held."
    ),
)

CONTROLS: tuple[Control, ...] = (LAST_APPLIED_SECRET,)


def check(manifests: Sequence[Manifest]) -> Iterator[Finding]:
    """Flag every v1 Secret whose last-applied annotation holds data or stringData values."""
    for manifest in manifests:
        if manifest.kind != "Secret" or manifest.api_version != "v1":
            continue
        keys = repeated_keys(manifest.annotations.get(LAST_APPLIED))
        if not keys:
            continue
        names = ", ".join(repr(key) for key in keys)
        message = (
            f"the {LAST_APPLIED} annotation repeats {len(keys)} Secret value(s): {names} "
            "(readable with the metadata)"
        )
        where = manifest.at(manifest.metadata.get("annotations"))
        yield Finding(LAST_APPLIED_SECRET, message, where, manifest.ref, {"keys": keys})


def repeated_keys(annotation: object) -> list[str]:
    """The ``data``/``stringData`` key names whose values the annotation's JSON holds."""
    if not isinstance(annotation, str) or not annotation.strip():
        return []
    try:
        applied = json.loads(annotation)
    except ValueError:
        return []
    if not isinstance(applied, Mapping):
        return []
    keys: list[str] = []
    for field_name in ("data", "stringData"):
        data = applied.get(field_name)
        if isinstance(data, Mapping):
            keys += [str(key) for key, value in data.items() if is_literal(value)]
    return list(dict.fromkeys(keys))
