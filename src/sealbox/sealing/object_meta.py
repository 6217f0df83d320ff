"""ObjectMeta's fields, named once for everything that copies metadata between objects.

Go's ``metav1.ObjectMeta`` decides what survives a round trip: a field it does not declare is
dropped when upstream decodes a template, so Sealbox keeps only these. ``kubeseal`` clears the
server-set ones before it copies a Secret's metadata into a template, and a SealedSecret handed
back to a user (``/v1/rotate``) carries none of them either.
"""

from __future__ import annotations

from typing import Final

__all__ = ["KUBESEAL_CLEARED", "OBJECT_META_FIELDS", "SERVER_FIELDS"]

OBJECT_META_FIELDS: Final = (
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
)
"""Every field of ``metav1.ObjectMeta``, in Go's declaration order (the order kubeseal writes)."""

KUBESEAL_CLEARED: Final = frozenset(
    {
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
    }
)
"""What kubeseal clears from a Secret's metadata before sealing it (spec §4, step 1)."""

SERVER_FIELDS: Final = KUBESEAL_CLEARED | {"managedFields"}
"""Metadata the apiserver writes and a user never keeps in Git."""
