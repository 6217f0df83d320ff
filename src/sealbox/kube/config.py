"""Which cluster, as which user: kubeconfig and in-cluster configuration, the way kubectl finds it.

kubectl's order is followed exactly:

1. ``--kubeconfig FILE`` (only that file);
2. else ``KUBECONFIG``, a ``:``-separated list of files merged in order (the first file to set a
   cluster, user, context or ``current-context`` wins; missing files are skipped);
3. else ``~/.kube/config``;
4. else, inside a Pod, the service account (``/var/run/secrets/kubernetes.io/serviceaccount``
   and ``KUBERNETES_SERVICE_HOST``/``_PORT``).

``--context`` picks a context (default: ``current-context``). Relative paths in a kubeconfig
(``certificate-authority``, ``client-certificate``, ``client-key``, ``tokenFile``) are relative to
the file that holds them, also after a merge. Token, client certificates and exec credential
plugins (``aws eks get-token``, ``gke-gcloud-auth-plugin``, ...) are handled by lightkube.

Every failure is one :class:`~sealbox.errors.KubeConfigError` that says what was tried and what
would be valid (the contexts there are, the files that were read); never a token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.core.exceptions import ConfigError as LightkubeConfigError

from sealbox.errors import KubeConfigError

__all__ = ["DEFAULT_KUBECONFIG", "SERVICE_ACCOUNT_DIR", "KubeTarget", "load_config"]

DEFAULT_KUBECONFIG = Path("~/.kube/config")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
_SECTIONS = ("clusters", "users", "contexts")
_RELATIVE = {  # section -> entry key -> fields holding a path
    "clusters": ("cluster", ("certificate-authority",)),
    "users": ("user", ("client-certificate", "client-key", "tokenFile")),
}


@dataclass(frozen=True, slots=True)
class KubeTarget:
    """What a user asked for: ``--kubeconfig`` and ``--context`` (None: kubectl's defaults)."""

    kubeconfig: Path | None = None
    context: str | None = None


def load_config(
    target: KubeTarget = KubeTarget(),
    *,
    environ: Mapping[str, str] | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> SingleConfig:
    """The cluster, user and namespace ``target`` selects (KubeConfigError when none can be)."""
    env = os.environ if environ is None else environ
    if target.kubeconfig is not None:
        return _select(_merged([target.kubeconfig], flag="--kubeconfig"), target.context)
    if env.get("KUBECONFIG"):
        files = [Path(p) for p in env["KUBECONFIG"].split(os.pathsep) if p]
        present = [p for p in files if p.expanduser().is_file()]
        if not present:
            raise KubeConfigError(
                f"KUBECONFIG names no file that exists ({env['KUBECONFIG']}); set it to your "
                "kubeconfig, or pass --kubeconfig"
            )
        return _select(_merged(present, flag="KUBECONFIG"), target.context)
    default = DEFAULT_KUBECONFIG.expanduser()
    if default.is_file():
        return _select(_merged([default], flag=str(DEFAULT_KUBECONFIG)), target.context)
    if env.get("KUBERNETES_SERVICE_HOST") and (service_account_dir / "token").is_file():
        if target.context is not None:
            raise KubeConfigError(
                f"--context {target.context}: no kubeconfig to pick it from (running in a Pod "
                "with its service account); drop --context or pass --kubeconfig"
            )
        return _in_cluster(service_account_dir)
    raise KubeConfigError(
        f"no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, create {DEFAULT_KUBECONFIG}, or "
        "run in a Pod with a service account"
    )


def _merged(files: list[Path], *, flag: str) -> KubeConfig:
    """The kubeconfig ``files`` make together (first wins), relative paths made absolute."""
    merged: dict[str, Any] = {section: [] for section in _SECTIONS}
    merged["current-context"] = None
    seen: dict[str, set[str]] = {section: set() for section in _SECTIONS}
    for path in files:
        document = _read(path, flag=flag)
        if not merged["current-context"]:
            merged["current-context"] = document.get("current-context") or None
        for section in _SECTIONS:
            for entry in document.get(section) or []:
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise KubeConfigError(f"{flag} {path}: {section}: each entry needs a name")
                if entry["name"] in seen[section]:
                    continue
                seen[section].add(entry["name"])
                merged[section].append(_absolute(entry, section, path.expanduser().parent))
    try:
        return KubeConfig.from_dict(merged, fname=files[0].expanduser())
    except (LightkubeConfigError, TypeError, ValueError, KeyError) as exc:
        raise KubeConfigError(f"{flag} {files[0]}: not a usable kubeconfig ({exc})") from None


def _read(path: Path, *, flag: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.expanduser().read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KubeConfigError(f"{flag} {path}: no such file; give a kubeconfig file") from None
    except IsADirectoryError:
        raise KubeConfigError(f"{flag} {path}: is a directory; give a kubeconfig file") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise KubeConfigError(f"{flag} {path}: cannot read ({reason})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise KubeConfigError(f"{flag} {where}: malformed YAML; give a kubeconfig file") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise KubeConfigError(f"{flag} {path}: not a kubeconfig (a YAML mapping with clusters)")
    kind = document.get("kind")
    if kind is not None and kind != "Config":
        raise KubeConfigError(
            f"{flag} {path}: a {kind}, not a kubeconfig (apiVersion: v1, kind: Config, with "
            "clusters, users and contexts)"
        )
    return document


def _absolute(entry: dict[str, Any], section: str, base: Path) -> dict[str, Any]:
    if section not in _RELATIVE:
        return entry
    key, fields = _RELATIVE[section]
    body = entry.get(key)
    if not isinstance(body, dict):
        return entry
    fixed = {
        name: str(base / value) if name in fields and _is_relative(value) else value
        for name, value in body.items()
    }
    return {**entry, key: fixed}


def _is_relative(value: object) -> bool:
    return isinstance(value, str) and bool(value) and not Path(value).expanduser().is_absolute()


def _select(config: KubeConfig, context: str | None) -> SingleConfig:
    name = context or config.current_context
    if name is None:
        raise KubeConfigError(
            f"{_source(config)}: no current-context; pass --context (one of: {_names(config)})"
        )
    if name not in config.contexts:
        flag = "--context" if context else "current-context"
        raise KubeConfigError(
            f"{flag} {name}: no such context in {_source(config)}; contexts: {_names(config)}"
        )
    try:
        selected = config.get(name)
    except (LightkubeConfigError, KeyError) as exc:
        raise KubeConfigError(f"context {name} in {_source(config)}: {_missing(exc)}") from None
    if selected is None:  # pragma: no cover - get() raises rather than returning None
        raise KubeConfigError(f"context {name}: not found in {_source(config)}")
    return selected


def _missing(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"names a cluster or user that is not defined ({exc.args[0]})"
    return str(exc)


def _names(config: KubeConfig) -> str:
    return ", ".join(sorted(config.contexts)) or "none"


def _source(config: KubeConfig) -> str:
    return str(config.fname) if config.fname else "the kubeconfig"


def _in_cluster(directory: Path) -> SingleConfig:
    try:
        config = KubeConfig.from_service_account(service_account=directory)
    except (LightkubeConfigError, KeyError) as exc:
        raise KubeConfigError(f"in-cluster service account {directory}: {exc}") from None
    selected = config.get()
    if selected is None:  # pragma: no cover - from_service_account always sets its context
        raise KubeConfigError(f"in-cluster service account {directory}: no context")
    return selected
