"""What an audit is given: arguments checked before anything is read, and what counts as input.

A scan must not pass on nothing, so every way of giving it nothing is a usage error (exit 2)
whose message names the path or flag, what was searched and what would be valid:

* :func:`check_paths`: each path argument exists and can be walked (``-``, stdin, at most once);
* :func:`check_file`: a file named by a flag (``--encryption-config``, ``--ignore-file``, ...)
  can be opened, and is not a directory; :func:`flag_error` words what then stopped it being read;
* :func:`check_subjects`: ``--allow-subject`` patterns name a subject kind;
* :func:`manifests_or_error`: what was loaded, unless it holds nothing the audit reads;
* :func:`load_manifests`: all three for commands that read only manifests (``who-can-read``).

:data:`EXPECTED` says, per flag, what the file should be.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from sealbox.audit.loader import DEFAULT_MAX_BYTES, SUFFIXES, LoadResult, load_paths
from sealbox.audit.model import InputProblem
from sealbox.errors import InputError
from sealbox.words import plural

__all__ = [
    "EXPECTED",
    "check_file",
    "check_paths",
    "check_subjects",
    "flag_error",
    "load_manifests",
    "manifests_or_error",
]

EXPECTED = {
    "--encryption-config": "a kube-apiserver EncryptionConfiguration (YAML, kind: "
    "EncryptionConfiguration)",
    "--audit-policy": "an audit policy (YAML, apiVersion: audit.k8s.io/v1, kind: Policy)",
    "--audit-log": "an audit log (audit.k8s.io/v1 Event objects, one JSON object per line; "
    "gzip allowed)",
    "--ignore-file": "a suppressions file (YAML with an 'ignore:' list)",
}
_PATHS = "manifest files or directories (YAML or JSON), or - for stdin"
_WANTED = "Kubernetes object, EncryptionConfiguration, audit Policy or Helm values file"
_VALID = (
    "give YAML or JSON manifests with apiVersion and kind (files, directories of them, or - for "
    "stdin), or name a file with --encryption-config, --audit-policy or --audit-log"
)
_VALID_RBAC = (
    "give the YAML or JSON manifests of the Roles, ClusterRoles and their bindings (files, "
    "directories of them, or - for stdin)"
)
_SUBJECT_KINDS = ("User", "Group", "ServiceAccount")
_GLOB = frozenset("*?[")


def check_paths(paths: Sequence[str]) -> None:
    """Raise InputError unless every path exists (``-`` is stdin, allowed once)."""
    if paths.count("-") > 1:
        raise InputError("stdin (-) can be given only once")
    missing: list[str] = []
    for raw in paths:
        if raw == "-":
            continue
        try:
            os.stat(raw)
        except NotADirectoryError:
            raise InputError(
                f"{raw}: cannot read: a parent of it is a file; give {_PATHS}"
            ) from None
        except FileNotFoundError:
            missing.append(raw)
        except OSError as exc:
            reason = exc.strerror or exc
            raise InputError(f"{raw}: cannot read ({reason}); give {_PATHS}") from None
    if missing:
        raise InputError(f"no such file or directory: {', '.join(missing)}; give {_PATHS}")


def check_file(flag: str, path: Path) -> None:
    """Raise InputError unless ``path``, named by ``flag``, is a file that can be opened."""
    try:
        with path.open("rb"):
            return
    except FileNotFoundError:
        reason = "no such file"
    except IsADirectoryError:
        reason = "is a directory, expected a file"
    except NotADirectoryError:
        reason = "cannot read: a parent of it is a file"
    except OSError as exc:
        reason = f"cannot read ({exc.strerror or exc})"
    raise InputError(f"{flag} {path}: {reason}; give {EXPECTED[flag]}")


def flag_error(flag: str, problem: InputProblem) -> InputError:
    """The usage error for a flag's file that could be opened but not read as what it should
    be (``problem`` says why: malformed YAML, binary, empty, ...)."""
    return InputError(f"{flag} {problem}; expected {EXPECTED[flag]}")


def check_subjects(patterns: Sequence[str]) -> None:
    """Raise InputError for an ``--allow-subject`` pattern that could match no subject."""
    for pattern in patterns:
        kind, sep, name = pattern.partition(":")
        if sep and name and (kind in _SUBJECT_KINDS or _GLOB & set(kind)):
            continue
        raise InputError(
            f"--allow-subject {pattern!r}: expected KIND:NAME with KIND one of "
            f"{', '.join(_SUBJECT_KINDS)}, e.g. ServiceAccount:kube-system/* or "
            "Group:platform-admins"
        )


def manifests_or_error(paths: Sequence[str], loaded: LoadResult, *, configs: bool) -> LoadResult:
    """``loaded``, unless it holds nothing to read: no object and, with ``configs`` (a scan),
    no Helm values file, EncryptionConfiguration or audit Policy either. Then an InputError
    says what was searched and what would be valid."""
    if loaded.manifests or (configs and (loaded.values or loaded.configs)):
        return loaded
    wanted, valid = (_WANTED, _VALID) if configs else ("Kubernetes object", _VALID_RBAC)
    searched = _searched(paths, loaded)
    raise InputError(f"nothing to audit: no {wanted} in {searched}; {valid}")


def load_manifests(
    paths: Sequence[str], *, stdin: TextIO | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> LoadResult:
    """The manifests under ``paths``; InputError for a missing path or no object at all."""
    check_paths(paths)
    loaded = load_paths(paths, stdin=stdin, max_bytes=max_bytes)
    return manifests_or_error(paths, loaded, configs=False)


def _searched(paths: Sequence[str], loaded: LoadResult) -> str:
    """``"deploy, stdin (-) (walked 3 directories for ...; 0 files read; a.yaml:1: ...)"``."""
    names = ", ".join("stdin (-)" if raw == "-" else raw for raw in paths)
    details: list[str] = []
    if loaded.directories:
        walked = plural(loaded.directories, "directory", "directories")
        details.append(f"walked {walked} for {', '.join(SUFFIXES)} files, hidden ones skipped")
    if any(raw != "-" for raw in paths):
        details.append(f"{plural(loaded.files - ('-' in paths), 'file')} read")
    problems = loaded.problems
    if problems:
        more = f" (and {plural(len(problems) - 1, 'more problem')})" if len(problems) > 1 else ""
        details.append(f"{problems[0]}{more}")
    if loaded.not_audited:
        kinds = ", ".join(str(item) for item in loaded.not_audited)
        details.append(f"not audited: {kinds}")
    return f"{names} ({'; '.join(details)})" if details else names
