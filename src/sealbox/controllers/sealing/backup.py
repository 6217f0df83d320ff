"""``sealbox seal backup``: every sealing key, encrypted to age recipients, and a record of it.

Losing the key namespace loses every SealedSecret, and a backup made before the last 30-day
renewal lacks the newest key (spec §6 item 1). The backup here is what upstream's docs tell
users to keep, a ``v1.List`` of the key Secrets in YAML (the form ``kubeseal
--recovery-private-key`` and ``sealbox seal --recovery-unseal`` read, and ``kubectl apply``
restores), with server-set fields removed, wrapped keys unwrapped to plain PEM, and the whole
encrypted with age (``pyrage``, bindings to rage) to ``age1…`` X25519 recipients or SSH public
keys, ASCII-armored. Nothing in clear touches a disk.

:func:`record_backup` then annotates each exported Secret with
``sealbox.io/backed-up-at: <RFC3339>`` (a merge patch conditioned on the resourceVersion seen,
so a Secret changed since is not marked). The caller records only after the backup is safely
written. The controller's ``sealbox_sealing_newest_key_backed_up`` metric reads that annotation
(:meth:`~.keystore.KeyStore.newest_backed_up`), so a renewal that made a key no backup holds
yet shows up on a dashboard. The key Secret format, read here as the controller reads it, is
:mod:`.key_secrets`.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyrage
import yaml
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret
from lightkube.types import PatchType

from sealbox.controllers.sealing.key_secrets import (
    BACKED_UP_ANNOTATION,
    DEFAULT_KEY_PREFIX,
    KEY_LABEL,
    TLS_SECRET_TYPE,
    is_wrapped,
    private_key_pem,
    secret_fields,
)
from sealbox.controllers.sealing.wrapping import WRAPPED_BY_ANNOTATION, KeyWrapper
from sealbox.errors import InputError, InvalidSealingKey, KubeNotFound
from sealbox.kube import kube_errors
from sealbox.sealing import key_from_pem

__all__ = ["BackedUpKey", "KeyBackup", "backup_keys", "parse_recipients", "record_backup"]

_DROPPED_ANNOTATIONS = frozenset(
    {
        WRAPPED_BY_ANNOTATION,
        BACKED_UP_ANNOTATION,
        "kubectl.kubernetes.io/last-applied-configuration",
    }
)
_Recipient = pyrage.x25519.Recipient | pyrage.ssh.Recipient


@dataclass(frozen=True, slots=True)
class BackedUpKey:
    """One key in a backup: its Secret, key id, NotBefore and label value (None: legacy)."""

    secret_name: str
    fingerprint: str
    not_before: datetime.datetime
    label: str | None
    resource_version: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class KeyBackup:
    """An encrypted backup (``encrypted``: armored age) and what it holds."""

    namespace: str
    keys: tuple[BackedUpKey, ...]
    encrypted: bytes = field(repr=False)
    skipped: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.keys)


def parse_recipients(recipients: Sequence[str]) -> list[_Recipient]:
    """age recipients: ``age1…`` X25519, or ``ssh-ed25519``/``ssh-rsa`` public key lines.

    Raises:
        InputError: none given, or one that is neither (named by position).
    """
    if not recipients:
        raise InputError("--recipient: give at least one age1… or ssh-ed25519/ssh-rsa key")
    parsed: list[_Recipient] = []
    for index, text in enumerate(recipients, start=1):
        text = text.strip()
        try:
            if text.startswith("age1"):
                parsed.append(pyrage.x25519.Recipient.from_str(text))
            elif text.startswith(("ssh-ed25519 ", "ssh-rsa ")):
                parsed.append(pyrage.ssh.Recipient.from_str(text))
            else:
                raise pyrage.RecipientError(text)
        except pyrage.RecipientError:
            raise InputError(
                f"--recipient #{index} ({text[:24]}…): not an age1… X25519 recipient or an "
                "ssh-ed25519/ssh-rsa public key"
            ) from None
    return parsed


async def _key_secrets(client: AsyncClient, namespace: str, prefix: str) -> list[Any]:
    listing = client.list(Secret, namespace=namespace, labels={KEY_LABEL: None})  # any value
    with kube_errors():
        found: list[Any] = [s async for s in listing]
    if prefix not in {str(s.metadata.name) for s in found}:
        try:
            with kube_errors():
                found.append(await client.get(Secret, prefix, namespace=namespace))
        except KubeNotFound:
            pass
    return sorted(found, key=lambda s: str(s.metadata.name))


async def backup_keys(
    client: AsyncClient,
    namespace: str,
    recipients: Sequence[str],
    *,
    wrapper: KeyWrapper | None = None,
    prefix: str = DEFAULT_KEY_PREFIX,
) -> KeyBackup:
    """Every key Secret of ``namespace`` (any label value, and the legacy ``prefix`` one), as a
    ``v1.List`` YAML encrypted to ``recipients``.

    Raises:
        InputError: a bad recipient; a wrapped key and no ``wrapper``; no key to back up.
        KubeError: the Secrets could not be read.
    """
    parsed = parse_recipients(recipients)
    items: list[dict[str, Any]] = []
    keys: list[BackedUpKey] = []
    skipped: list[str] = []
    for secret in await _key_secrets(client, namespace, prefix):
        name = str(secret.metadata.name)
        source = f"Secret {namespace}/{name}"
        data, labels, annotations = secret_fields(secret)
        if is_wrapped(data) and wrapper is None:
            raise InputError(
                f"{source}: the key is wrapped by "
                f"{annotations.get(WRAPPED_BY_ANNOTATION, 'a KMS backend')}; give the "
                "backend config to unwrap it"
            )
        private_pem = await private_key_pem(data, annotations, wrapper=wrapper, source=source)
        try:
            key = key_from_pem(private_pem, data.get("tls.crt", b""), source=source)
        except InvalidSealingKey:
            skipped.append(name)
            continue
        kept = {k: v for k, v in annotations.items() if k not in _DROPPED_ANNOTATIONS}
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            metadata["labels"] = labels
        if kept:
            metadata["annotations"] = kept
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": metadata,
                "type": TLS_SECRET_TYPE,
                "data": {
                    "tls.crt": base64.b64encode(data.get("tls.crt", b"")).decode(),
                    "tls.key": base64.b64encode(private_pem).decode(),
                },
            }
        )
        keys.append(
            BackedUpKey(
                secret_name=name,
                fingerprint=key.fingerprint,
                not_before=key.not_before,
                label=labels.get(KEY_LABEL),
                resource_version=str(secret.metadata.resourceVersion or ""),
            )
        )
    if not items:
        raise InputError(f"namespace {namespace}: no sealing key Secret to back up")
    document = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False
    ).encode()
    encrypted = pyrage.encrypt(document, parsed, armored=True)
    return KeyBackup(namespace, tuple(keys), encrypted, tuple(skipped))


async def record_backup(
    client: AsyncClient, backup: KeyBackup, *, at: datetime.datetime | None = None
) -> None:
    """Annotate every Secret in ``backup`` with :data:`BACKED_UP_ANNOTATION` (RFC3339).

    Call it once the backup is written. Raises KubeConflict when a Secret changed since the
    backup read it (back up again), KubeError otherwise.
    """
    stamp = (at or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for key in backup.keys:
        patch = {
            "metadata": {
                "resourceVersion": key.resource_version,
                "annotations": {BACKED_UP_ANNOTATION: stamp},
            }
        }
        with kube_errors():
            await client.patch(
                Secret,
                key.secret_name,
                patch,
                namespace=backup.namespace,
                patch_type=PatchType.MERGE,
            )
