"""The audit's checks, one module per area, each a pure function over what was read.

* :func:`check_workloads` (SBX-1xx): how pods get Secrets and their API token;
* :func:`check_repository` (SBX-2xx): credentials committed in Secrets, ConfigMaps and Helm values;
* :func:`check_last_applied` (SBX-210): Secret values repeated in kubectl's last-applied annotation;
* :func:`check_rbac` (SBX-3xx): subjects that can read Secrets, judged with :class:`RbacSettings`;
* :func:`check_encryption_config` (SBX-4xx): the EncryptionConfiguration, as the apiserver sees it;
* :func:`judge_stored` (SBX-41x): Secrets etcd holds in plaintext or under a stale key (live);
* :func:`check_audit_policy` (SBX-5xx): the audit Policy, simulated;
* :func:`check_audit_log` (SBX-6xx): who read which Secrets, from the audit log.

The manifest checks take loaded manifests; the file checks read their one file and report what
stopped them as input problems. A config already read as a :class:`YamlFile` (by
:func:`read_yaml_file`, or cut out of a stream by :func:`yaml_document`) is judged by
:func:`judge_encryption_config` or :func:`judge_audit_policy`, the same functions the file
checks use. :data:`ALL_CONTROLS` is every control they raise, by id.
"""

from __future__ import annotations

from sealbox.audit.checks import (
    audit_log,
    audit_policy,
    encryption,
    last_applied,
    rbac,
    repo,
    stored,
    workloads,
)
from sealbox.audit.checks._yamlfile import YamlFile, read_yaml_file, yaml_document
from sealbox.audit.checks.audit_log import check as check_audit_log
from sealbox.audit.checks.audit_policy import check as check_audit_policy
from sealbox.audit.checks.audit_policy import judge as judge_audit_policy
from sealbox.audit.checks.encryption import check as check_encryption_config
from sealbox.audit.checks.encryption import judge as judge_encryption_config
from sealbox.audit.checks.last_applied import check as check_last_applied
from sealbox.audit.checks.rbac import ClusterAnalyses, RbacSettings
from sealbox.audit.checks.rbac import check as check_rbac
from sealbox.audit.checks.rbac import check_placement as check_rbac_placement
from sealbox.audit.checks.repo import check as check_repository
from sealbox.audit.checks.stored import judge_stored
from sealbox.audit.checks.workloads import check as check_workloads

__all__ = [
    "ALL_CONTROLS",
    "ClusterAnalyses",
    "RbacSettings",
    "YamlFile",
    "check_audit_log",
    "check_audit_policy",
    "check_encryption_config",
    "check_last_applied",
    "check_rbac",
    "check_rbac_placement",
    "check_repository",
    "check_workloads",
    "judge_audit_policy",
    "judge_encryption_config",
    "judge_stored",
    "read_yaml_file",
    "yaml_document",
]

ALL_CONTROLS = tuple(
    sorted(
        (
            *workloads.CONTROLS,
            *repo.CONTROLS,
            *last_applied.CONTROLS,
            *rbac.CONTROLS,
            *encryption.CONTROLS,
            *stored.CONTROLS,
            *audit_policy.CONTROLS,
            *audit_log.CONTROLS,
        ),
        key=lambda c: c.id,
    )
)
