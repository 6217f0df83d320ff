"""Which config files one audit judges, and as what: those named by flags, those found by kind.

A file named by ``--encryption-config`` or ``--audit-policy`` is judged as that. An
EncryptionConfiguration or ``audit.k8s.io`` Policy found among the manifests (the loader keeps
it as a :class:`~sealbox.audit.loader.ConfigDocument`) is judged exactly the same way, by the
same check, at the lines it has in its file; a file that a flag names too is judged once, as the
flag says. :meth:`AuditedConfigs.inputs` tells the report which input was read as what.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from sealbox.audit.checks import (
    YamlFile,
    judge_audit_policy,
    judge_encryption_config,
    yaml_document,
)
from sealbox.audit.loader import AUDIT_POLICY, ENCRYPTION_CONFIG, STDIN, ConfigDocument
from sealbox.audit.model import Finding, InputProblem, Location

__all__ = ["AuditedConfigs", "NamedConfig", "audited_configs"]

_JUDGES: dict[str, Callable[[YamlFile], list[Finding]]] = {
    ENCRYPTION_CONFIG: judge_encryption_config,
    AUDIT_POLICY: judge_audit_policy,
}


class NamedConfig(NamedTuple):
    """A config file named by ``flag`` (``--encryption-config``), read as ``role``."""

    flag: str
    role: str
    file: YamlFile


@dataclass(frozen=True, slots=True)
class _Judged:
    role: str
    file: YamlFile
    where: Location
    via: str  # the flag that named it, or where it was found


@dataclass(slots=True)
class AuditedConfigs:
    """The configs to judge, the problems met reading them, and how many named files were not
    also read as manifests (``extra_files``, for the report's file count)."""

    judged: list[_Judged] = field(default_factory=list)
    problems: list[InputProblem] = field(default_factory=list)
    extra_files: int = 0

    def findings(self) -> list[Finding]:
        return [finding for config in self.judged for finding in _JUDGES[config.role](config.file)]

    def inputs(self, paths: Sequence[str], audit_log: Path | None) -> list[dict[str, str]]:
        """The report's ``inputs`` rows: each path argument, each config and the audit log,
        what each was read as, and why."""
        rows = [
            {
                "input": STDIN if raw == "-" else raw,
                "auditedAs": "manifests",
                "from": "stdin (-)" if raw == "-" else "argument",
            }
            for raw in paths
        ]
        rows += [
            {"input": str(config.where), "auditedAs": config.role, "from": config.via}
            for config in self.judged
        ]
        if audit_log is not None:
            rows.append({"input": str(audit_log), "auditedAs": "audit log", "from": "--audit-log"})
        return rows


def audited_configs(
    named: Sequence[NamedConfig], found: Sequence[ConfigDocument], paths: Sequence[str]
) -> AuditedConfigs:
    """Every config to judge: ``named`` by flags, then those ``found`` among the manifests read
    from ``paths``, each file (or document of a stream) once."""
    named_files = {_real(config.file.path) for config in named}
    also: dict[str, str] = {}  # a named file -> where it was found as well
    rest: list[ConfigDocument] = []
    seen: set[tuple[str, int]] = set()
    for document in found:
        path = document.location.path
        key = path if path == STDIN else _real(path)
        if key in named_files:
            also.setdefault(key, _origin(path, paths))
        elif (key, document.line_offset) not in seen:
            seen.add((key, document.line_offset))
            rest.append(document)
    result = AuditedConfigs()
    for config in named:
        origin = also.get(_real(config.file.path))
        via = f"{config.flag} (also {origin})" if origin else config.flag
        result.judged.append(_Judged(config.role, config.file, Location(config.file.path), via))
        result.extra_files += origin is None
    for document in rest:
        path, role = document.location.path, document.role
        file, problems = yaml_document(document.text, path, role, line_offset=document.line_offset)
        result.problems += problems
        if file is not None:
            origin = _origin(path, paths)
            result.judged.append(_Judged(role, file, document.location, origin))
    return result


def _real(path: str) -> str:
    return os.path.realpath(path)


def _origin(path: str, paths: Sequence[str]) -> str:
    """How a config document came in: ``found in DIR`` (the path argument it is under), ``given
    as an argument`` (a file named as a manifest), or ``found on stdin (-)``."""
    if path == STDIN:
        return "found on stdin (-)"
    real = Path(_real(path))
    for raw in paths:
        if raw == "-":
            continue
        root = Path(_real(raw))
        if root == real:
            return "given as an argument"
        if root in real.parents:
            return f"found in {raw}"
    return "found among the manifests"
