"""``sealbox seal --recovery-unseal``: open one SealedSecret offline with backed-up private keys.

For disaster recovery (the cluster, or its controller's keys, are gone): the keys are files given
with ``--recovery-private-key`` (repeatable, or comma-separated as kubeseal takes them; PEM, a
Secret, a List of Secrets, a ``kubectl get secret -o yaml`` backup). The Secret is built exactly
as the controller would (:func:`sealbox.sealing.unseal_sealed_secret`), but its values are
printed only with ``--show-values``: by default each ``data`` item is listed with its value
replaced by ``REDACTED``, enough to check that every item opens without putting plaintext in a
terminal's scrollback. ``--output-file`` is written with mode 0600.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealbox.cli.io import read_input
from sealbox.cli.seal_cluster import sealed_secrets
from sealbox.errors import InputError, UnsealFailed

__all__ = ["REDACTED", "recovery_keys", "recovery_unseal"]

REDACTED = "REDACTED"


def recovery_keys(paths: Sequence[str]) -> Any:
    """A :class:`sealbox.sealing.KeySet` of every key in the files (comma lists split)."""
    from sealbox.sealing import KeySet, read_private_keys

    files = [part.strip() for path in paths for part in path.split(",") if part.strip()]
    if not files:
        raise InputError(
            "--recovery-private-key: required with --recovery-unseal; give the backed-up key "
            "file(s) (PEM, a Secret, or a List of Secrets)"
        )
    keys = []
    for path in files:
        data = read_input(path, "--recovery-private-key")
        keys += read_private_keys(data, f"--recovery-private-key {path}")
    return KeySet(keys)


def recovery_unseal(file: str, key_files: Sequence[str], *, show_values: bool) -> dict[str, Any]:
    """The Secret that FILE's one SealedSecret stands for (values redacted unless
    ``show_values``).

    Raises:
        InputError: FILE is not exactly one SealedSecret, or a key file is unusable.
        UnsealFailed: some item does not open with the keys given (its items named).
    """
    from sealbox.sealing import unseal_sealed_secret

    objects, label, _ = sealed_secrets(file)
    if len(objects) != 1:
        raise InputError(
            f"{label}: holds {len(objects)} SealedSecrets; --recovery-unseal reads one"
        )
    keys = recovery_keys(key_files)
    try:
        secret = unseal_sealed_secret(objects[0], keys.open)
    except UnsealFailed as exc:
        raise UnsealFailed(
            f"{label}: {exc} (with the {len(keys)} key(s) of --recovery-private-key)",
            reason=exc.reason,
        ) from None
    if not show_values and isinstance(secret.get("data"), dict):
        secret["data"] = {item: REDACTED for item in secret["data"]}
    return secret
