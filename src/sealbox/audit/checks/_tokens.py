"""Service account tokens in pods: not needed (SBX-107), or able to read Secrets (SBX-108).

A pod gets its ServiceAccount's API token mounted unless ``automountServiceAccountToken`` is
false on the pod spec, or unset there and false on the ServiceAccount (the pod's setting wins).
Kubescape C-0034 and checkov CKV_K8S_38 flag every pod that gets one, which is noise for apps
that call the API. Sealbox flags a mounted token when

* the pod runs as the namespace's ``default`` ServiceAccount (kubeaudit asat's rule: the token
  of an account shared by every pod that names none), whether or not automount is explicit; or
* it runs as another ServiceAccount, nothing in the input asked for the token (neither the pod
  nor the ServiceAccount sets ``automountServiceAccountToken: true``), and no RoleBinding or
  ClusterRoleBinding in the input names that ServiceAccount as a subject, so the token grants
  the app nothing it was given on purpose.

An explicit ``true`` on a non-default account, or a binding to it, is taken as "the app uses
the API". Bindings to groups (``system:serviceaccounts:<ns>``) do not count: they are not
grants to this app. When a namespace is missing on either side (``helm template`` output
often has none) names are matched without it.

SBX-108 is the stronger finding: the mounted token belongs to a ServiceAccount the RBAC
analysis shows reading Secrets for certain (:mod:`._token_readers`), so every container of the
pod, sidecars included, holds a Secret-reading credential. It is raised whatever the account,
``default`` included (a default account that reads Secrets is worse: every pod that names no
account gets it), and whether or not the token was asked for; a pod raises SBX-108 or SBX-107,
never both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sealbox.audit.checks._token_readers import TokenReaders
from sealbox.audit.model import Control, Finding, Manifest, Severity
from sealbox.audit.podspec import PodSpec, mappings

__all__ = ["READER_TOKEN", "TOKEN", "Accounts", "TokenReaders", "token_findings"]

TOKEN = Control(
    id="SBX-107",
    title="Service account token mounted where it is not needed",
    severity=Severity.MEDIUM,
    rationale=(
        "A mounted token lets anything that compromises the container call the API as the "
        "pod's ServiceAccount (kubescape C-0034/C-0190); flagged only for the default "
        "ServiceAccount or an account nothing binds and nothing asked to automount."
    ),
    remediation=(
        "Set automountServiceAccountToken: false on the pod spec (or the ServiceAccount); if "
        "the app calls the API, give it a dedicated ServiceAccount with a RoleBinding."
    ),
    mappings=(
        "kubescape C-0034",
        "kubescape C-0190",
        "checkov CKV_K8S_38",
        "Trivy KSV-0036",
        "Polaris automountServiceAccountToken",
        "kubeaudit AutomountServiceAccountTokenTrueAndDefaultSA",
    ),
)
READER_TOKEN = Control(
    id="SBX-108",
    title="Pod mounts the token of a service account that can read Secrets",
    severity=Severity.HIGH,
    rationale=(
        "Every container of a pod that automounts its ServiceAccount's token can read the token "
        "file (https://kubernetes.io/docs/concepts/security/service-accounts/), so when RBAC "
        "lets that account list or get Secrets, create pods or escalate, a compromise of any "
        "container, sidecar or init container reads the Secrets too (Kubernetes RBAC good "
        "practices, https://kubernetes.io/docs/concepts/security/rbac-good-practices/)."
    ),
    remediation=(
        "Set automountServiceAccountToken: false on pods that do not call the API; for those "
        "that do, narrow the account's role (resourceNames, one namespace) or move the "
        "Secret-reading work into a separate workload with its own ServiceAccount."
    ),
    mappings=("kubescape C-0034", "kubescape C-0190"),
)


def _matches(namespace: str | None, other: str | None) -> bool:
    return namespace is None or other is None or namespace == other


@dataclass(slots=True)
class Accounts:
    """What the input says about ServiceAccounts: automount settings and who is bound."""

    automount: dict[str, list[tuple[str | None, bool]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    bound: dict[str, list[str | None]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def from_manifests(cls, manifests: Sequence[Manifest]) -> Accounts:
        accounts = cls()
        for manifest in manifests:
            if manifest.kind == "ServiceAccount":
                setting = manifest.body.get("automountServiceAccountToken")
                if isinstance(setting, bool):
                    accounts.automount[manifest.name].append((manifest.namespace, setting))
            elif manifest.kind in ("RoleBinding", "ClusterRoleBinding"):
                for _, subject in mappings(manifest.body.get("subjects")):
                    name = subject.get("name")
                    if subject.get("kind") != "ServiceAccount" or not isinstance(name, str):
                        continue
                    namespace = subject.get("namespace")
                    if not isinstance(namespace, str) or not namespace:
                        # A RoleBinding's subject defaults to the binding's namespace.
                        namespace = manifest.namespace if manifest.kind == "RoleBinding" else None
                    accounts.bound[name].append(namespace)
        return accounts

    def automount_setting(self, namespace: str | None, name: str) -> bool | None:
        """The ServiceAccount's own ``automountServiceAccountToken``, None when unknown."""
        candidates = self.automount.get(name, [])
        for other, setting in candidates:
            if other == namespace:
                return setting
        for other, setting in candidates:
            if _matches(namespace, other):
                return setting
        return None

    def is_bound(self, namespace: str | None, name: str) -> bool:
        return any(_matches(namespace, other) for other in self.bound.get(name, []))


def token_findings(pod: PodSpec, accounts: Accounts, readers: TokenReaders) -> Iterator[Finding]:
    """At most one SBX-108 or SBX-107 finding for the pod spec (see the module doc)."""
    if not pod.own_account:
        return
    namespace, account = pod.manifest.namespace, pod.service_account
    pod_setting = pod.body.get("automountServiceAccountToken")
    pod_setting = pod_setting if isinstance(pod_setting, bool) else None
    account_setting = accounts.automount_setting(namespace, account)
    if pod_setting is False or (pod_setting is None and account_setting is False):
        return
    field_path = f"{pod.path}.automountServiceAccountToken"
    reach = readers.reach(pod.manifest, account)
    if reach is not None:
        containers = len(list(pod.containers()))
        message = (
            f"pod mounts the API token of ServiceAccount {reach.account.qualified_name!r}, which "
            f"can {reach.how} ({reach.binding} -> {reach.role}): each of its {containers} "
            "container(s) holds a Secret-reading credential"
        )
        facts: dict[str, object] = {"serviceAccount": account, "field": field_path}
        facts |= {"namespace": reach.account.namespace, "access": reach.as_dict()}
        yield Finding(READER_TOKEN, message, pod.manifest.at(pod.body), pod.manifest.ref, facts)
        return
    explicit = pod_setting is True or (pod_setting is None and account_setting is True)
    if account == "default":
        how = "automountServiceAccountToken: true" if explicit else "automount is not disabled"
        message = f"pod mounts the API token of the namespace's default ServiceAccount ({how})"
    elif explicit or accounts.is_bound(namespace, account):
        return
    else:
        message = (
            f"pod mounts the API token of ServiceAccount {account!r}, which no RoleBinding or "
            "ClusterRoleBinding in the input names, and nothing asked for it"
        )
    details: Mapping[str, object] = {"serviceAccount": account, "field": field_path}
    yield Finding(TOKEN, message, pod.manifest.at(pod.body), pod.manifest.ref, details)
