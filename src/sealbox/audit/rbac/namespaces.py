"""The namespace a namespaced object of the input lands in when its manifest does not say.

``kubectl apply`` puts an object without ``metadata.namespace`` in the namespace it is applied
to, and ``kustomize build`` in the ``namespace:`` of the kustomization that includes it; a
manifest never says which. :class:`Namespaces` holds what the inputs do say: the namespace of
each file's kustomization (see :mod:`sealbox.audit.rbac.clusters`) and the ``--namespace`` the
user gave. What none of them tells is assumed to be ``default``, and the RBAC findings whose
subject rests on that assumption say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sealbox.audit.model import Manifest

__all__ = ["DEFAULT_NAMESPACE", "Namespaces"]

DEFAULT_NAMESPACE = "default"


@dataclass(frozen=True, slots=True)
class Namespaces:
    """``by_file``: a file's kustomization namespace; ``fallback``: the ``--namespace`` given."""

    by_file: Mapping[str, str] = field(default_factory=dict)
    fallback: str | None = None

    def default_for(self, manifest: Manifest) -> str | None:
        """Where a namespace-less object of this manifest's file goes; None when unknown."""
        return self.by_file.get(manifest.location.path) or self.fallback

    def of(self, manifest: Manifest) -> str:
        """``metadata.namespace``, else the file's namespace, else ``default``."""
        return manifest.namespace or self.default_for(manifest) or DEFAULT_NAMESPACE
