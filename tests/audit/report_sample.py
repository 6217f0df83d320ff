"""A hand-built AuditReport for the output-format tests: a few controls, findings of every
severity, a suppressed finding, input problems, an audit-log section, and hostile text.

``MARKER`` stands for a secret value. It appears nowhere in the report (checks never copy values
into findings), so the tests assert it appears in no output either.
"""

from __future__ import annotations

from typing import Any

from sealbox.audit.model import (
    AuditReport,
    Control,
    Finding,
    InputProblem,
    Location,
    ObjectRef,
    Severity,
    Suppressed,
)
from sealbox.audit.ordering import order_key

MARKER = "s3cr3t-marker-report-7f41"
HOSTILE_NAME = '<script>alert("pwned")</script>'

ENV = Control(
    id="SBX-101",
    title="Secret exposed as an environment variable",
    severity=Severity.MEDIUM,
    rationale="Env vars leak into crash dumps, child processes and `kubectl describe`.",
    remediation="Mount the Secret as a file with defaultMode 0400 instead.",
    mappings=("kubescape C-0012", "checkov CKV_K8S_35"),
)
PLAINTEXT = Control(
    id="SBX-201",
    title="Plaintext Secret manifest committed",
    severity=Severity.HIGH,
    rationale="Base64 is an encoding, not encryption: anyone with the repo reads the value.",
    remediation="Seal the Secret (SealedSecret or SOPS) and remove it from history.",
)
WILDCARD = Control(
    id="SBX-301",
    title="Wildcard RBAC grant reads every Secret",
    severity=Severity.CRITICAL,
    rationale="A '*' verb or resource on a cluster-wide binding includes get/list on secrets.",
    remediation="Replace wildcards with the resources and verbs the subject needs.",
    mappings=("kubescape C-0187",),
)
IDENTITY = Control(
    id="SBX-401",
    title="identity provider first in EncryptionConfiguration",
    severity=Severity.HIGH,
    rationale="The first provider encrypts new writes; identity stores Secrets in plaintext.",
    remediation="Put aesgcm, secretbox or kms v2 first.",
)
AUTOMOUNT = Control(
    id="SBX-103",
    title="Service account token automounted",
    severity=Severity.LOW,
    rationale="A mounted token lets any code in the pod call the API as the service account.",
    remediation="Set automountServiceAccountToken: false where the pod does not call the API.",
    mappings=("checkov CKV_K8S_38",),
)
READS = Control(
    id="SBX-601",
    title="Secret reads in the audit log",
    severity=Severity.INFO,
    rationale="Knowing who read which Secret is the baseline for spotting unusual access.",
    remediation="Review the identities listed in the audit-log summary.",
)
UNUSED = Control(
    id="SBX-501",
    title="Secret reads not logged by the audit policy",
    severity=Severity.MEDIUM,
    rationale="Without a Metadata rule for secrets, reads leave no trace.",
    remediation="Add a Metadata-level rule for secrets before any catch-all rule.",
)
CONTROLS = (ENV, PLAINTEXT, WILDCARD, IDENTITY, AUTOMOUNT, READS, UNUSED)

APP = ObjectRef("Deployment", "prod", "app")
HOSTILE = ObjectRef("Secret", "prod", HOSTILE_NAME)

F_WILDCARD = Finding(
    WILDCARD,
    "ClusterRoleBinding everyone grants ClusterRole admin-all (verbs '*') to group dev",
    Location("rbac/admin.yaml", 12),
    ObjectRef("ClusterRoleBinding", None, "everyone"),
    {"subject": "Group dev", "path": ["ClusterRoleBinding everyone", "ClusterRole admin-all"]},
)
F_PLAINTEXT = Finding(
    PLAINTEXT,
    f"Secret prod/{HOSTILE_NAME} holds plaintext data keys: password, token",
    Location("secrets/db.yaml", 3),
    HOSTILE,
    {"keys": ["password", "token"]},
)
F_IDENTITY = Finding(
    IDENTITY,
    "resources[0] (secrets) lists identity before aesgcm",
    Location("/etc/kubernetes/enc.yaml", 0),
)
F_ENV = Finding(
    ENV,
    "container web env DB_PASSWORD takes key password from Secret db-creds",
    Location("deploy/app.yaml", 27),
    APP,
    {"container": "web", "env": "DB_PASSWORD", "secret": "db-creds", "key": "password"},
)
F_AUTOMOUNT = Finding(
    AUTOMOUNT,
    "pod template mounts the service account token (automountServiceAccountToken unset)",
    Location("deploy/app.yaml", 9),
    APP,
)
F_READS = Finding(
    READS,
    "3 identities read Secrets in the audit log",
    Location("audit.log", 0),
)
FINDINGS = tuple(
    sorted((F_WILDCARD, F_PLAINTEXT, F_IDENTITY, F_ENV, F_AUTOMOUNT, F_READS), key=order_key)
)

S_ENV = Suppressed(
    Finding(
        ENV,
        "container worker env API_TOKEN takes key token from Secret api",
        Location("deploy/worker.yaml", 31),
        ObjectRef("Deployment", "prod", "worker"),
    ),
    reason="legacy worker reads env only; tracked in OPS-12",
    source="annotation sealbox.io/ignore",
)
S_AUTOMOUNT = Suppressed(
    Finding(
        AUTOMOUNT,
        "pod template mounts the service account token (automountServiceAccountToken unset)",
        Location("deploy/operator.yaml", 8),
        ObjectRef("Deployment", "ops", "operator"),
    ),
    reason="the operator calls the API",
    source=".sealbox-ignore.yaml:4",
)

PROBLEMS = (
    InputProblem(Location("broken/bad.yaml", 7), "malformed YAML: mapping values are not allowed"),
    InputProblem(Location("blob.bin", 0), "binary file skipped"),
)

SECTIONS: dict[str, Any] = {
    "auditLog": {
        "events": 1200,
        "secretReads": 5,
        "perIdentity": [
            {
                "identity": "system:serviceaccount:prod:app",
                "get": 3,
                "list": 0,
                "watch": 0,
                "secrets": ["prod/db-creds"],
            },
            {
                "identity": "alice@example.com",
                "get": 0,
                "list": 2,
                "watch": 0,
                "secrets": ["*/ (all namespaces)"],
            },
        ],
    }
}

# What a live audit and the custom-workload audit add to a report (shapes as they send them).
LIVE_SECTIONS: dict[str, Any] = {
    "apiCalls": [
        {
            "verb": "list",
            "resource": "secrets",
            "read": "metadata only",
            "requests": 2,
            "objects": 9,
        },
        {"verb": "list", "resource": "pods", "read": "full", "requests": 1, "objects": 4},
    ],
    "customWorkloads": [
        {
            "kind": "Rollout",
            "apiGroup": "argoproj.io",
            "objects": 2,
            "podSpecs": 2,
            "foundBy": "known path",
        }
    ],
}


def sample_report(*, fail_on: Severity = Severity.HIGH) -> AuditReport:
    return AuditReport(
        findings=FINDINGS,
        suppressed=(S_ENV, S_AUTOMOUNT),
        problems=PROBLEMS,
        controls=CONTROLS,
        fail_on=fail_on,
        files=9,
        objects=23,
        sections=SECTIONS,
    )


def empty_report() -> AuditReport:
    return AuditReport(
        findings=(), suppressed=(), problems=(), controls=CONTROLS, fail_on=Severity.HIGH
    )
