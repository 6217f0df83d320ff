"""The RBAC controls (SBX-301..317): ids, severities, rationale, remediation and mappings.

Kept apart from :mod:`sealbox.audit.checks.rbac`, which decides when each one applies.
"""

from __future__ import annotations

from sealbox.audit.model import Control, Severity

__all__ = [
    "BROAD_GROUP",
    "CONTROLS",
    "CSR",
    "DEFAULT_SA",
    "ESCALATE",
    "EXEC",
    "FAMILY_CONTROLS",
    "GET_CLUSTER",
    "GET_SECRETS",
    "IMPERSONATE",
    "LIST_CLUSTER",
    "LIST_NAMESPACE",
    "NODES_PROXY",
    "TOKEN",
    "WEBHOOK",
    "WILDCARD",
    "WORKLOAD",
]


_NARROW = (
    "Bind a Role that grants only get with resourceNames for the Secrets the subject needs, "
    "or add the subject to the allowlist if it is a trusted controller."
)
LIST_CLUSTER = Control(
    id="SBX-301",
    title="Subject can list or watch every Secret in the cluster",
    severity=Severity.HIGH,
    rationale=(
        "A list or watch response carries the data of every Secret it returns "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#listing-secrets), so "
        "list/watch on secrets through a ClusterRoleBinding reveals every Secret value in the "
        "cluster."
    ),
    remediation=_NARROW,
    mappings=(
        "kubescape C-0015",
        "kubescape C-0186",
        "kube-bench 5.1.2",
        "Trivy KSV-0041",
        "checkov CKV2_K8S_5",
    ),
)
LIST_NAMESPACE = Control(
    id="SBX-302",
    title="Subject can list or watch every Secret in a namespace",
    severity=Severity.MEDIUM,
    rationale=(
        "list/watch on secrets without resourceNames returns the values of all Secrets in the "
        "namespace, not only those the subject needs "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#listing-secrets)."
    ),
    remediation=_NARROW,
    mappings=("kubescape C-0015", "kubescape C-0186", "Trivy KSV-0113", "checkov CKV2_K8S_5"),
)
_GET_REMEDIATION = (
    "Restrict the rule with resourceNames to the Secrets the subject needs, or allowlist it."
)
GET_SECRETS = Control(
    id="SBX-303",
    title="Subject can get Secrets by name in a namespace, or named Secrets",
    severity=Severity.LOW,
    rationale=(
        "get reveals one Secret's value "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#listing-secrets); "
        "without resourceNames it works for any Secret of the namespace whose name the subject "
        "knows or guesses. Lower risk than list, but still a reader. get on any name in every "
        "namespace is SBX-307."
    ),
    remediation=_GET_REMEDIATION,
    mappings=("kubescape C-0186", "Trivy KSV-0041", "Trivy KSV-0113"),
)
GET_CLUSTER = Control(
    id="SBX-307",
    title="Subject can get any Secret by name in every namespace",
    severity=Severity.HIGH,
    rationale=(
        "get without resourceNames through a ClusterRoleBinding reads any Secret of the cluster "
        "whose name the subject knows "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#listing-secrets), "
        "and Secret names are not secret: they follow patterns (a Helm release's "
        "'<release>-<chart>', 'sh.helm.release.v1.<release>.v<n>', operators' fixed names), "
        "and pod specs, events and the repository itself name them. Across every namespace "
        "that is close to list."
    ),
    remediation=_GET_REMEDIATION,
    mappings=("kubescape C-0186", "Trivy KSV-0041"),
)
WILDCARD = Control(
    id="SBX-304",
    title="Wildcard rule grants access to Secrets",
    severity=Severity.MEDIUM,
    rationale=(
        "RBAC matches '*' against every verb, resource or API group, so a wildcard rule reads "
        "Secrets whether or not its author meant it to, including future resources "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#least-privilege)."
    ),
    remediation=(
        "Replace '*' in verbs, resources and apiGroups with the explicit values the role needs."
    ),
    mappings=(
        "kubescape C-0187",
        "checkov CKV_K8S_49",
        "Trivy KSV-0044",
        "Trivy KSV-0045",
        "Trivy KSV-0046",
        "kube-bench 5.1.3",
    ),
)
BROAD_GROUP = Control(
    id="SBX-305",
    title="Every authenticated, anonymous or service-account identity can read Secrets",
    severity=Severity.CRITICAL,
    rationale=(
        "A grant to system:authenticated, system:unauthenticated, system:anonymous or "
        "system:serviceaccounts gives every user or every pod a path to Secret values "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#periodic-review); "
        "kube-bench 5.1.2 tests exactly this identity."
    ),
    remediation=(
        "Remove the subject from the binding and grant the access to the identities that need it."
    ),
    mappings=("kube-bench 5.1.2", "kube-bench 5.1.4"),
)
DEFAULT_SA = Control(
    id="SBX-306",
    title="Default service account can read Secrets",
    severity=Severity.HIGH,
    rationale=(
        "Every pod that names no service account runs as its namespace's default account, so its "
        "rights go to every such pod (CIS Kubernetes Benchmark 5.1.5)."
    ),
    remediation=(
        "Bind the permission to a dedicated service account used only by the workload that needs "
        "it."
    ),
    mappings=(
        "checkov CKV2_K8S_5",
        "kubescape C-0267",
        "kubeaudit AutomountServiceAccountTokenTrueAndDefaultSA",
    ),
)
WORKLOAD = Control(
    id="SBX-310",
    title="Subject can create pods or pod controllers (reads every Secret in the namespace)",
    severity=Severity.MEDIUM,
    rationale=(
        "Anyone who can create a pod, or create/update/patch a Deployment, Job or other "
        "controller, can mount any Secret of the namespace and run as any of its service accounts "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#workload-creation)."
    ),
    remediation=(
        "Let CI or a GitOps controller deploy instead of people, and scope its rights per "
        "namespace."
    ),
    mappings=("kubescape C-0188", "kube-bench 5.1.4", "Trivy KSV-0048", "kubescape C-0267"),
)
EXEC = Control(
    id="SBX-311",
    title="Subject can exec or attach into pods",
    severity=Severity.MEDIUM,
    rationale=(
        "pods/exec, pods/attach (create, or get via websocket) and ephemeral containers give a "
        "shell in pods, which reads their mounted Secrets and service-account tokens."
    ),
    remediation=(
        "Remove pods/exec, pods/attach and pods/ephemeralcontainers from roles used day to day."
    ),
    mappings=(
        "kubescape C-0002",
        "Trivy KSV-0053",
        "checkov CKV2_K8S_2",
        "Polaris clusterrolePodExecAttach",
        "Polaris rolePodExecAttach",
    ),
)
IMPERSONATE = Control(
    id="SBX-312",
    title="Subject can impersonate an identity that reads Secrets",
    severity=Severity.HIGH,
    rationale=(
        "impersonate on users, groups or serviceaccounts lets the subject act with another "
        "identity's rights, including system:masters when groups are not restricted "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#impersonate-verb)."
    ),
    remediation=(
        "Remove impersonate, or limit it with resourceNames to identities that read no Secrets."
    ),
    mappings=(
        "kubescape C-0065",
        "kubescape C-0191",
        "Trivy KSV-0043",
        "checkov CKV2_K8S_3",
        "kube-bench 5.1.8",
    ),
)
ESCALATE = Control(
    id="SBX-313",
    title="Subject can escalate or bind roles",
    severity=Severity.HIGH,
    rationale=(
        "escalate with a write on roles, or bind with a write on bindings, lets a subject grant "
        "itself permissions it does not hold, Secret reads included "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#escalate-verb)."
    ),
    remediation=(
        "Remove escalate and bind; if delegation is needed, restrict bind with resourceNames."
    ),
    mappings=("kubescape C-0191", "Trivy KSV-0050", "checkov CKV_K8S_158", "kube-bench 5.1.8"),
)
TOKEN = Control(
    id="SBX-314",
    title="Subject can obtain tokens of service accounts that read Secrets",
    severity=Severity.HIGH,
    rationale=(
        "create on serviceaccounts/token issues tokens for existing service accounts "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#token-request), and "
        "creating a service-account-token Secret that the subject can read mints one; either way "
        "the subject acts as those accounts. Raised only when an account whose token it can "
        "obtain certainly reads Secret values (get, list, starting pods, escalation), not when "
        "that account could only through a pod that happens to mount one."
    ),
    remediation=(
        "Remove create on serviceaccounts/token and on secrets, or scope them to namespaces whose "
        "service accounts read no Secrets."
    ),
    mappings=("kubescape C-0282", "kube-bench 5.1.13"),
)
NODES_PROXY = Control(
    id="SBX-315",
    title="Subject can use nodes/proxy",
    severity=Severity.HIGH,
    rationale=(
        "nodes/proxy (get suffices) gives the kubelet API, which executes commands in every pod of "
        "the node, bypassing audit logging and admission "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#access-to-proxy-subresource-of-nodes)."
    ),
    remediation="Remove nodes/proxy from every role not used by monitoring that strictly needs it.",
    mappings=("kubescape C-0279", "Trivy KSV-0047", "checkov CKV2_K8S_2", "kube-bench 5.1.10"),
)
CSR = Control(
    id="SBX-316",
    title="Subject can approve client certificates",
    severity=Severity.HIGH,
    rationale=(
        "Creating and approving CSRs for the kube-apiserver-client signer yields client "
        "certificates for any name, system components and system:masters included "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#csrs-and-certificate-issuing)."
    ),
    remediation=(
        "Leave CSR approval to the controller manager; remove approval and signer approve rights."
    ),
    mappings=("checkov CKV_K8S_156", "kube-bench 5.1.11"),
)
WEBHOOK = Control(
    id="SBX-317",
    title="Subject can write admission webhook configurations",
    severity=Severity.HIGH,
    rationale=(
        "A validating or mutating webhook receives every object admitted to the cluster, Secrets "
        "included, and a mutating one can rewrite pods "
        "(https://kubernetes.io/docs/concepts/security/rbac-good-practices/#control-admission-webhooks)."
    ),
    remediation="Restrict writes on webhook configurations to the cluster administrators.",
    mappings=("checkov CKV_K8S_155", "kube-bench 5.1.12"),
)

CONTROLS: tuple[Control, ...] = (
    LIST_CLUSTER,
    LIST_NAMESPACE,
    GET_SECRETS,
    WILDCARD,
    BROAD_GROUP,
    DEFAULT_SA,
    GET_CLUSTER,
    WORKLOAD,
    EXEC,
    IMPERSONATE,
    ESCALATE,
    TOKEN,
    NODES_PROXY,
    CSR,
    WEBHOOK,
)

FAMILY_CONTROLS = {
    "workload": WORKLOAD,
    "exec": EXEC,
    "impersonate": IMPERSONATE,
    "escalate": ESCALATE,
    "bind": ESCALATE,
    "token": TOKEN,
    "nodes-proxy": NODES_PROXY,
    "csr": CSR,
    "webhook": WEBHOOK,
}
