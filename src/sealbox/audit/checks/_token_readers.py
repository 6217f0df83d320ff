"""Which service accounts read Secrets: the RBAC analysis, asked once per account a pod uses.

The workload controls need one answer per pod: does the token it mounts read Secrets, and by
which binding? The RBAC analysis (:mod:`sealbox.audit.rbac`) answers it per cluster of the input
(each entry kustomization, as :func:`~sealbox.audit.rbac.split_clusters` splits them, the same
:class:`~sealbox.audit.checks.rbac.ClusterAnalyses` the RBAC controls use), and places a pod
where that cluster's kustomization puts it. Subjects the user allows to read
Secrets (``--allow-subject``) are not reported. Nothing is built when the
input has no binding at all, which is the common case for an application repository.

Only certain reads count (``list``/``get`` on secrets, creating pods or pod controllers,
``escalate``, ``bind``, CSR approval, ``system:masters``), directly or by acting as an identity
that has one (impersonation, minting tokens): those are the RBAC analysis's
``certain_hot`` identities. Paths that read a Secret only if some pod happens to mount it
(``pods/exec``, ``nodes/proxy``) or when it is next written (webhooks) do not make the token a
Secret-reading credential by themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sealbox.audit.checks.rbac import ClusterAnalyses, RbacSettings
from sealbox.audit.model import Manifest
from sealbox.audit.rbac import (
    ALL_SCOPES,
    Cluster,
    Identity,
    PathGrant,
    RbacAnalysis,
)

__all__ = ["SecretReach", "TokenReaders"]

_BINDINGS = frozenset({"RoleBinding", "ClusterRoleBinding"})
# The families that read Secret values for certain, most telling first (for the message).
_CERTAIN = ("list", "get", "workload", "escalate", "bind", "csr", "masters")


@dataclass(frozen=True, slots=True)
class SecretReach:
    """How one service account reads Secrets: a phrase for messages and the path's facts."""

    account: Identity
    how: str
    scope: str
    family: str
    binding: str
    role: str

    def as_dict(self) -> dict[str, str]:
        return {
            "family": self.family,
            "how": self.how,
            "scope": self.scope,
            "binding": self.binding,
            "role": self.role,
        }


def _rank(path: PathGrant) -> tuple[int, int, str]:
    return (_CERTAIN.index(path.family), path.scope != ALL_SCOPES, path.how)


class TokenReaders:
    """The Secret-reading service accounts of the input, per cluster, computed lazily.

    ``settings`` are the RBAC controls' (:class:`~sealbox.audit.checks.rbac.RbacSettings`):
    the same clusters and namespaces, and an allowed subject's token is not reported.
    """

    def __init__(
        self,
        manifests: Sequence[Manifest],
        settings: RbacSettings,
        analyses: ClusterAnalyses | None = None,
    ) -> None:
        self._manifests = manifests
        self._settings = settings
        self._analyses = analyses
        self._cluster_of: dict[int, int] | None = None

    def _clusters(self) -> ClusterAnalyses | None:
        """The shared analyses, split on first use; None when the input has no binding."""
        if self._cluster_of is None:
            self._cluster_of = {}
            if any(m.kind in _BINDINGS for m in self._manifests):
                if self._analyses is None:
                    self._analyses = ClusterAnalyses(self._manifests, self._settings)
                for index, cluster in enumerate(self._analyses.clusters):
                    for manifest in cluster.manifests:
                        self._cluster_of.setdefault(id(manifest), index)
            else:
                self._analyses = None
        return self._analyses

    def _reader(
        self, analysis: RbacAnalysis, account: str, namespaces: tuple[str, ...]
    ) -> Identity | None:
        for namespace in namespaces:
            identity = Identity("ServiceAccount", account, namespace)
            if identity in analysis.certain_hot and not self._settings.allows(identity):
                return identity
        return None

    def reach(self, manifest: Manifest, account: str) -> SecretReach | None:
        """How the token of ``account``, mounted by ``manifest``'s pods, reads Secrets."""
        analyses = self._clusters()
        index = None if self._cluster_of is None else self._cluster_of.get(id(manifest))
        if analyses is None or index is None:
            return None
        cluster, analysis = analyses.clusters[index], analyses.analysis(index)
        identity = self._reader(analysis, account, _namespaces(cluster, manifest))
        if identity is None:
            return None
        own = sorted(
            (p for p in analysis.effective(identity) if p.family in _CERTAIN and p.links),
            key=_rank,
        )
        if own:
            path = own[0]
            how = f"{_verb(path)} {_scope_text(path.scope)}{_WHY.get(path.family, '')}"
        else:  # reads by acting as another identity (impersonation, minted tokens)
            acting = [p for p in analysis.effective(identity) if p.targets is not None]
            if not acting:
                return None
            path = min(acting, key=lambda p: (p.scope != ALL_SCOPES, p.how))
            how = (
                f"act as an identity that reads Secrets ({path.family}: {path.how} "
                f"{_scope_text(path.scope)})"
            )
        link = path.links[0]
        return SecretReach(
            account=identity,
            how=how,
            scope=path.scope,
            family=path.family,
            binding=str(link.binding),
            role=str(link.role),
        )


_WHY = {
    "workload": " (a pod it starts can mount any Secret there)",
    "escalate": " (it can grant itself any permission)",
    "bind": " (it can bind itself to a role that reads Secrets)",
    "csr": " (a client certificate for any identity)",
}


def _verb(path: PathGrant) -> str:
    if path.family in ("list", "get"):
        names = f" {', '.join(sorted(path.names))}" if path.names else ""
        return f"{path.how} Secrets{names}"
    return path.how


def _namespaces(cluster: Cluster, manifest: Manifest) -> tuple[str, ...]:
    """Where the pod may run: its own namespace, then its kustomization's (which ``kustomize
    build`` writes over the manifest's, as kubebuilder's ``namespace: system`` expects)."""
    placed = cluster.namespaces.of(manifest)
    override = cluster.namespaces.default_for(manifest)
    return (placed,) if override in (None, placed) else (placed, str(override))


def _scope_text(scope: str) -> str:
    return "in every namespace" if scope == ALL_SCOPES else f"in namespace {scope}"
