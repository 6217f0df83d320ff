"""Area 4: the EncryptionConfiguration given with ``--encryption-config`` or found among manifests.

The file is validated by the encryption core (:func:`sealbox.encryption.lint_config`, the
apiserver's own rules). A file the apiserver rejects gets one SBX-401 finding per broken rule and
no further judgement: the apiserver does not run with it. A valid file is judged by what happens
to Secrets (core group ``secrets``), with the apiserver's matching semantics from
:mod:`sealbox.encryption.resources`: the exact ``secrets`` rule wins over ``*.`` which wins over
``*.*``; every entry listing the winning rule contributes its providers, in file order; the first
provider of that chain encrypts new writes, the others only decrypt.

* SBX-402: no entry covers Secrets, so they are stored in plaintext.
* SBX-403: the write provider is ``identity`` (plaintext), from the entry that decides Secrets.
* SBX-404: the same, but another entry covers Secrets with real encryption and is not used for
  writes (a more specific or earlier rule with ``identity`` shadows it).
* SBX-405 / 406 / 408: the write provider is ``aescbc`` (weak), ``aesgcm`` (needs rotation) or
  any static-key provider (the key sits in this file on the control-plane host).
* SBX-407: any KMS v1 provider (deprecated, disabled by default since 1.29).

Locations are the line of the offending provider or field; messages name providers and key
*names*, never a key's secret.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from sealbox.audit.checks._yamlfile import YamlFile, read_yaml_file
from sealbox.audit.model import Control, Finding, InputProblem, Location, Severity
from sealbox.encryption import (
    EncryptionConfiguration,
    GroupResource,
    ProviderConfiguration,
    covers,
    lint_config,
    resolve,
)
from sealbox.errors import ConfigIssue
from sealbox.yamldoc import line_at

__all__ = ["CONTROLS", "check", "judge"]

_SECRETS = GroupResource("", "secrets")
_WHAT = "EncryptionConfiguration"
_KEY_LENGTH = re.compile(r"got \d+, ")
_At = Callable[[str], Location]  # a field path -> its place in the file

REJECTED = Control(
    id="SBX-401",
    title="EncryptionConfiguration rejected by kube-apiserver",
    severity=Severity.HIGH,
    rationale=(
        "kube-apiserver validates the whole file and refuses to start with it (or keeps the old "
        "one when automatic reload is on), so the encryption it describes is not in effect."
    ),
    remediation="Fix every reported field; `sealbox config validate FILE` shows all of them.",
)
NOT_COVERED = Control(
    id="SBX-402",
    title="Secrets not covered by the EncryptionConfiguration",
    severity=Severity.CRITICAL,
    rationale=(
        "A resource that no entry names (itself, `*.` or `*.*`) is stored by the apiserver in "
        "plaintext, and then 'anyone with access to etcd' can read every Secret "
        "(https://kubernetes.io/docs/concepts/configuration/secret/)."
    ),
    remediation="Add `secrets` (or `*.`/`*.*`) to an entry whose first provider is kms v2.",
    mappings=(
        "kubescape C-0066",
        "kubescape C-0141",
        "kube-bench 1.2.27",
        "checkov CKV_K8S_104",
        "Trivy KCV-0030",
    ),
)
IDENTITY_FIRST = Control(
    id="SBX-403",
    title="Secrets written in plaintext: identity is the first provider",
    severity=Severity.CRITICAL,
    rationale=(
        "The first provider encrypts every new write; `identity` writes plaintext, even when an "
        "encrypting provider follows it "
        "(https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/). kubescape C-0142 "
        "passes this because another provider of the entry is aescbc/secretbox/kms."
    ),
    remediation=(
        "Put an encrypting provider (kms apiVersion v2) first; keep identity after it only while "
        "migrating, then rewrite all Secrets (`kubectl get secrets -A -o json | kubectl replace "
        "-f -`)."
    ),
    mappings=("kubescape C-0142", "kube-bench 1.2.28"),
)
SHADOWED = Control(
    id="SBX-404",
    title="Encryption for Secrets shadowed by an identity entry",
    severity=Severity.CRITICAL,
    rationale=(
        "Secrets use the most specific rule (`secrets`, then `*.`, then `*.*`) and, for a rule "
        "listed twice, the providers of the earlier entry first; an entry with identity first "
        "there makes an encrypting entry for Secrets dead, and the file looks encrypted."
    ),
    remediation=(
        "Remove Secrets (or the wildcard) from the identity entry, or move the encrypting "
        "provider into the entry that decides Secrets, first in its list."
    ),
    mappings=("kubescape C-0142", "kube-bench 1.2.28"),
)
AESCBC = Control(
    id="SBX-405",
    title="Secrets encrypted with aescbc",
    severity=Severity.MEDIUM,
    rationale=(
        "The Kubernetes docs rate aescbc 'Weak … not recommended due to CBC's vulnerability to "
        "padding oracle attacks' "
        "(https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/); kubescape C-0142 and "
        "kube-bench 1.2.28 still accept it."
    ),
    remediation="Write Secrets with kms v2 (or secretbox); keep aescbc only to read old data.",
    mappings=("kubescape C-0142", "kube-bench 1.2.28"),
)
AESGCM = Control(
    id="SBX-406",
    title="Secrets encrypted with aesgcm (key rotation required)",
    severity=Severity.LOW,
    rationale=(
        "aesgcm uses random nonces, so the Kubernetes docs require rotating its key every 200,000 "
        "writes (https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/); "
        "kube-apiserver does not rotate it for you."
    ),
    remediation=(
        "Prefer kms v2; otherwise rotate the aesgcm key before 200,000 writes: add a new first "
        "key, then rewrite every Secret with it (`sealbox etcd rewrap -c CONFIG --apply`)."
    ),
    mappings=("kube-bench 1.2.28",),
)
KMS_V1 = Control(
    id="SBX-407",
    title="KMS v1 provider",
    severity=Severity.MEDIUM,
    rationale=(
        "KMS v1 is deprecated since Kubernetes 1.28 and disabled by default since 1.29: the "
        "apiserver refuses the file without --feature-gates=KMSv1=true "
        "(https://kubernetes.io/docs/tasks/administer-cluster/kms-provider/)."
    ),
    remediation="Migrate the plugin and the provider to `apiVersion: v2`.",
)
STATIC_KEY = Control(
    id="SBX-408",
    title="Secrets encrypted with a static key stored on the control-plane host",
    severity=Severity.MEDIUM,
    rationale=(
        "aescbc, aesgcm and secretbox keys sit in this file next to the apiserver, so local-key "
        "encryption 'fails to protect against a host compromise' "
        "(https://kubernetes.io/docs/tasks/administer-cluster/encrypt-data/)."
    ),
    remediation="Use a kms v2 provider so the key-encryption key stays in an external KMS.",
    mappings=("kubescape C-0208",),
)

CONTROLS: tuple[Control, ...] = (
    REJECTED,
    NOT_COVERED,
    IDENTITY_FIRST,
    SHADOWED,
    AESCBC,
    AESGCM,
    KMS_V1,
    STATIC_KEY,
)


def check(path: Path) -> tuple[list[Finding], list[InputProblem]]:
    """Judge the EncryptionConfiguration at ``path``. Never raises for bad content."""
    file, problems = read_yaml_file(path, _WHAT)
    if file is None:
        return [], problems
    return judge(file), []


def judge(file: YamlFile) -> list[Finding]:
    """Judge one EncryptionConfiguration already read (a file, or a document of a stream)."""
    report = lint_config(file.text, file.path)
    document = file.document

    def at(field: str) -> Location:
        return Location(file.path, line_at(document, field) or 1)

    if report.config is None:
        return [_rejected(issue, at(issue.path)) for issue in report.errors]
    return _judge(report.config, at)


def _rejected(issue: ConfigIssue, where: Location) -> Finding:
    message = issue.message
    if issue.path.endswith(".secret"):
        message = _KEY_LENGTH.sub("", message)  # not even the length of a key leaves the file
    field = issue.path or "(file)"
    return Finding(
        REJECTED,
        f"kube-apiserver rejects this file: {field}: {message}",
        where,
        details={"field": issue.path, "problem": message},
    )


def _judge(config: EncryptionConfiguration, at: _At) -> list[Finding]:
    findings: list[Finding] = []
    resolution = resolve(config, _SECRETS)
    write = resolution.write_provider
    if resolution.rule is None or write is None:
        findings.append(
            Finding(
                NOT_COVERED,
                "no entry lists secrets, '*.' or '*.*': kube-apiserver stores Secrets in "
                "plaintext in etcd",
                at("resources"),
                details={"field": "resources"},
            )
        )
    else:
        rule = str(resolution.rule)
        entry_path = resolution.entries[0].path  # the first entry listing the deciding rule
        findings += _write_provider(config, write, entry_path=entry_path, rule=rule, at=at)
    for entry in config.resources:
        for provider in entry.providers:
            if provider.kms is not None and provider.kms.api_version == "v1":
                findings.append(
                    Finding(
                        KMS_V1,
                        f"{provider.path}: {provider.label} is a KMS v1 provider (deprecated "
                        "since 1.28, disabled by default since 1.29)",
                        at(provider.path),
                        details={"field": provider.path, "kms": provider.kms.name},
                    )
                )
    return findings


def _write_provider(
    config: EncryptionConfiguration,
    write: ProviderConfiguration,
    *,
    entry_path: str,
    rule: str,
    at: _At,
) -> list[Finding]:
    """Findings about ``write``, the provider that writes new Secrets under ``rule``."""
    where, details = at(write.path), _details(write, rule)
    if write.type == "identity":
        return [_identity(config, write, entry_path=entry_path, rule=rule, at=at)]
    findings: list[Finding] = []
    if write.type == "aescbc":
        findings.append(
            Finding(
                AESCBC,
                f"{write.path}: Secrets (rule '{rule}') are written with aescbc, which CBC makes "
                "vulnerable to padding-oracle attacks",
                where,
                details=details,
            )
        )
    if write.type == "aesgcm":
        findings.append(
            Finding(
                AESGCM,
                f"{write.path}: Secrets (rule '{rule}') are written with aesgcm; its key must be "
                "rotated (upstream: every 200,000 writes)",
                where,
                details=details,
            )
        )
    if write.type in ("aescbc", "aesgcm", "secretbox"):
        names = ", ".join(key.name for key in write.keys)
        findings.append(
            Finding(
                STATIC_KEY,
                f"{write.path}: Secrets (rule '{rule}') are encrypted by {write.type} with a "
                f"key stored in this file (key names: {names}), not in a KMS",
                where,
                details={**details, "keys": [key.name for key in write.keys]},
            )
        )
    return findings


def _identity(
    config: EncryptionConfiguration,
    write: ProviderConfiguration,
    *,
    entry_path: str,
    rule: str,
    at: _At,
) -> Finding:
    where, details = at(write.path), _details(write, rule)
    shadowed = [
        entry
        for entry in config.resources
        if entry.path != entry_path
        and covers(entry.resources, _SECRETS)
        and any(provider.type != "identity" for provider in entry.providers)
    ]
    if shadowed:
        other = shadowed[0]
        other_at = at(other.path)
        return Finding(
            SHADOWED,
            f"{write.path}: Secrets are written in plaintext by identity (rule '{rule}' of "
            f"{entry_path}); the encrypting entry {other.path} (line {other_at.line}) that also "
            "covers Secrets is never used for writes",
            where,
            details={**details, "shadowed": other.path},
        )
    return Finding(
        IDENTITY_FIRST,
        f"{write.path}: identity is the first provider for Secrets (rule '{rule}'), so new "
        "Secrets are stored in plaintext",
        where,
        details=details,
    )


def _details(write: ProviderConfiguration, rule: str) -> dict[str, str]:
    return {"field": write.path, "rule": rule, "provider": write.type}
