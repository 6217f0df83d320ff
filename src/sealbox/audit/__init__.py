"""``sealbox audit``: where Secrets leak in manifests, RBAC, encryption and audit configs.

* :func:`run_audit` runs every check an :class:`AuditOptions` asks for and returns one
  :class:`AuditReport`: :class:`Finding` objects (each naming a :class:`Control`, with its
  :class:`Severity`, a :class:`Location` and maybe an :class:`ObjectRef`), the findings the user
  accepted (:class:`Suppressed`), the inputs it could not read (:class:`InputProblem`) and the
  kinds it read but has no control for (:class:`NotAudited`).
  :data:`ALL_CONTROLS` lists every control, by id.
* :func:`load_paths` reads manifest files, directories and stdin into a :class:`LoadResult` of
  :class:`Manifest` objects and Helm :class:`ValuesDocument` objects; files over
  :data:`DEFAULT_MAX_BYTES` are skipped. Suppressions are read from :data:`IGNORE_FILE`.
  :func:`load_manifests` does the same for a command that needs objects, and raises
  :class:`~sealbox.errors.InputError` for a missing path or inputs without any.
* A live cluster is an input too: :func:`read_cluster` lists its objects read-only (Secrets by
  metadata alone) as the same :class:`Manifest` objects, and :func:`scan_secrets` scans how
  etcd stores its Secrets; an :class:`AuditOptions` ``source`` hands them to the engine as
  :class:`SourceInputs`.

The parts are subpackages with faces of their own: :mod:`sealbox.audit.checks` (one module per
area), :mod:`sealbox.audit.rbac` (who can read a Secret, and how) and
:mod:`sealbox.audit.report` (the output formats).
"""

from __future__ import annotations

import importlib
import typing

from sealbox.audit.inputs import load_manifests
from sealbox.audit.loader import (
    DEFAULT_MAX_BYTES,
    IGNORE_FILE,
    LoadResult,
    ValuesDocument,
    load_paths,
)
from sealbox.audit.model import (
    AuditReport,
    Control,
    Finding,
    InputProblem,
    Location,
    Manifest,
    NotAudited,
    ObjectRef,
    Severity,
    Suppressed,
)

if typing.TYPE_CHECKING:
    from sealbox.audit.engine import ALL_CONTROLS, AuditOptions, SourceInputs, run_audit
    from sealbox.audit.etcd_state import scan_secrets
    from sealbox.audit.live import read_cluster

__all__ = [
    "ALL_CONTROLS",
    "DEFAULT_MAX_BYTES",
    "IGNORE_FILE",
    "AuditOptions",
    "AuditReport",
    "Control",
    "Finding",
    "InputProblem",
    "LoadResult",
    "Location",
    "Manifest",
    "NotAudited",
    "ObjectRef",
    "Severity",
    "SourceInputs",
    "Suppressed",
    "ValuesDocument",
    "load_manifests",
    "load_paths",
    "read_cluster",
    "run_audit",
    "scan_secrets",
]

# The engine imports every check (the RBAC analysis, the audit-policy simulator, ...), and the
# ``sealbox`` command imports this package at each start to build its CLI: the engine's names
# are imported when first used, so the other commands do not pay for them. So are the live
# inputs' (a cluster's objects, the etcd scan).
_LAZY_NAMES = {
    "ALL_CONTROLS": "engine",
    "AuditOptions": "engine",
    "SourceInputs": "engine",
    "run_audit": "engine",
    "read_cluster": "live",
    "scan_secrets": "etcd_state",
}


def __getattr__(name: str) -> object:
    if name not in _LAZY_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_LAZY_NAMES[name]}")
    value = getattr(module, name)
    globals()[name] = value  # found directly from now on
    return value
