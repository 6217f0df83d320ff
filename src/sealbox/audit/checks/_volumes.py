"""Secret volume hygiene (SBX-104..106): file modes, ``readOnly`` and ``subPath`` mounts.

None of the existing scanners reads ``defaultMode``, ``items[].mode``, ``readOnly`` or
``subPath`` on Secret volumes. Both ``secret`` volumes and ``projected``
volumes with ``secret`` sources are covered.

File modes. The API default for ``defaultMode`` is 0644, so without one every user in the
container can read the files. Mode bits for "other" are always too open. Group bits are judged
by ``fsGroup``: with an ``fsGroup`` the kubelet chowns the files to that group and ORs in 0440
for read-only volumes anyway (kubernetes ``pkg/volume/volume_linux.go``, ``roMask``), so group
read is how a non-root container is meant to read its Secret; without one the group is root's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from sealbox.audit.model import Control, Finding, Severity
from sealbox.audit.podspec import PodSpec, as_mapping, mappings

__all__ = ["FILE_MODE", "SUBPATH", "WRITABLE_MOUNT", "parse_mode", "volume_findings"]

FILE_MODE = Control(
    id="SBX-104",
    title="Secret volume files readable beyond their owner",
    severity=Severity.LOW,
    rationale=(
        "Secret volume files get mode 0644 unless defaultMode or items[].mode says otherwise (the "
        "API default of SecretVolumeSource.defaultMode), so every user in the container can read "
        "them."
    ),
    remediation=(
        "Set defaultMode: 0400 on the Secret (or projected) volume, or 0440 together with the "
        "pod's securityContext.fsGroup when the container does not run as root; give "
        "items[].mode the same treatment."
    ),
)
WRITABLE_MOUNT = Control(
    id="SBX-105",
    title="Secret volume mounted without readOnly: true",
    severity=Severity.INFO,
    rationale=(
        "Since the fix for CVE-2017-1002102 (Kubernetes v1.10) the kubelet mounts secret, "
        "configMap, downwardAPI and projected volumes read-only whatever the mount says, so this "
        "only states intent."
    ),
    remediation="Add readOnly: true to the volumeMount of the Secret volume.",
)
SUBPATH = Control(
    id="SBX-106",
    title="Secret volume mounted with subPath (no updates after rotation)",
    severity=Severity.LOW,
    rationale=(
        "A container using a Secret as a subPath volume mount does not receive Secret updates "
        "(https://kubernetes.io/docs/concepts/configuration/secret/), so a rotated credential "
        "stays in the pod until it restarts."
    ),
    remediation=(
        "Mount the whole Secret volume in a directory of its own (optionally with items to "
        "pick keys) and point the application at the file there, or restart pods on rotation."
    ),
)

_API_DEFAULT_MODE = 0o644
_OCTAL_TEXT = re.compile(r"^0o?([0-7]{1,3})$")


def parse_mode(value: object) -> int | None:
    """A file mode (0 to 0777) from a manifest, or None if absent or not a valid mode.

    PyYAML follows YAML 1.1, like the YAML library kubectl uses: an unquoted ``0644`` is an
    octal integer (420) and ``420`` a decimal one, so both arrive here as the same int, which
    is also what JSON manifests (decimal only) give. ``0o644`` is YAML 1.2 octal, which PyYAML
    leaves as a string; it is read as octal, as a YAML 1.2 tool would.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= 0o777 else None
    if isinstance(value, str):
        match = _OCTAL_TEXT.match(value.strip())
        if match:
            return int(match.group(1), 8)
    return None


def _problem(mode: int, fs_group: bool) -> str | None:
    if mode & 0o007:
        return "readable by every user in the container"
    if mode & 0o070 and not fs_group:
        return "readable by the root group (no fsGroup is set)"
    return None


def volume_findings(pod: PodSpec) -> Iterator[Finding]:
    """SBX-104 for each Secret volume, SBX-105/106 for each mount of one."""
    yield from _mode_findings(pod)
    yield from _mount_findings(pod)


def _mode_findings(pod: PodSpec) -> Iterator[Finding]:
    for index, volume in mappings(pod.body.get("volumes")):
        path = f"{pod.path}.volumes[{index}]"
        secret = volume.get("secret")
        if isinstance(secret, Mapping):
            sources = [(secret, str(secret.get("secretName") or ""), f"{path}.secret")]
            default = secret.get("defaultMode")
            field = f"{path}.secret.defaultMode"
            yield from _modes(pod, volume, sources, raw_default=default, default_field=field)
        projected = as_mapping(volume.get("projected"))
        sources = [
            (source["secret"], str(source["secret"].get("name") or ""), f"{path}.sources[{i}]")
            for i, source in mappings(projected.get("sources"))
            if isinstance(source.get("secret"), Mapping)
        ]
        if sources:
            default = projected.get("defaultMode")
            field = f"{path}.projected.defaultMode"
            yield from _modes(pod, volume, sources, raw_default=default, default_field=field)


def _modes(
    pod: PodSpec,
    volume: Mapping[str, Any],
    sources: list[tuple[Mapping[str, Any], str, str]],
    *,
    raw_default: object,
    default_field: str,
) -> Iterator[Finding]:
    volume_name = str(volume.get("name") or "")
    default = _API_DEFAULT_MODE if raw_default is None else parse_mode(raw_default)
    inherits = False  # does any file get the default mode?
    for source, secret, source_path in sources:
        items = list(mappings(source.get("items")))
        if not items:
            inherits = True
        for index, item in items:
            if item.get("mode") is None:
                inherits = True
                continue
            mode = parse_mode(item.get("mode"))
            why = None if mode is None else _problem(mode, pod.has_fs_group)
            if mode is None or why is None:
                continue
            key = str(item.get("key") or "")
            message = (
                f"key {key!r} of Secret {secret!r} in volume {volume_name!r} has mode "
                f"{mode:04o}: {why}"
            )
            facts = {"volume": volume_name, "secret": secret, "key": key, "mode": f"{mode:04o}"}
            facts["field"] = f"{source_path}.items[{index}].mode"
            yield Finding(FILE_MODE, message, pod.manifest.at(item), pod.manifest.ref, facts)
    why = None if default is None or not inherits else _problem(default, pod.has_fs_group)
    if default is None or why is None:
        return
    secrets = ", ".join(repr(secret) for _, secret, _ in sources)
    what = (
        "no defaultMode (API default 0644)" if raw_default is None else f"defaultMode {default:04o}"
    )
    message = f"Secret volume {volume_name!r} (Secret {secrets}) has {what}: files are {why}"
    details: dict[str, Any] = {"volume": volume_name, "secrets": [s for _, s, _ in sources]}
    details |= {"mode": f"{default:04o}", "field": default_field}
    yield Finding(FILE_MODE, message, pod.manifest.at(volume), pod.manifest.ref, details)


def _mount_findings(pod: PodSpec) -> Iterator[Finding]:
    secret_volumes = pod.secret_volumes()
    if not secret_volumes:
        return
    for container in pod.containers():
        for index, mount in mappings(container.body.get("volumeMounts")):
            name = mount.get("name")
            if not isinstance(name, str) or name not in secret_volumes:
                continue
            secrets = ", ".join(repr(secret) for secret in secret_volumes[name])
            field = f"{container.path}.volumeMounts[{index}]"
            details: dict[str, Any] = {"container": container.name, "volume": name}
            details["secrets"] = list(secret_volumes[name])
            where = pod.manifest.at(mount)
            if mount.get("readOnly") is not True:
                message = (
                    f"container {container.name!r} mounts Secret volume {name!r} "
                    f"(Secret {secrets}) without readOnly: true"
                )
                fields = details | {"field": f"{field}.readOnly"}
                yield Finding(WRITABLE_MOUNT, message, where, pod.manifest.ref, fields)
            for key in ("subPath", "subPathExpr"):
                if isinstance(mount.get(key), str) and mount[key]:
                    message = (
                        f"container {container.name!r} mounts Secret volume {name!r} "
                        f"(Secret {secrets}) with {key}: rotated values never reach it"
                    )
                    fields = details | {"field": f"{field}.{key}"}
                    yield Finding(SUBPATH, message, where, pod.manifest.ref, fields)
                    break
