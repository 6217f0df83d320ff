"""``sealbox seal backup``: every sealing key of the controller, encrypted to age recipients.

The command line of :mod:`sealbox.controllers.sealing.backup`: it reads the key Secrets (with the
kubeconfig options), writes the age-armored ``v1.List`` atomically (``--output-file``, mode 0600,
or stdout), and only then marks each Secret backed up, so the controller's "newest key not backed
up" metric clears only for a backup that exists. Key ids and NotBefore go to stderr; no key
material is ever printed in clear.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from sealbox.cli.io import check_output_file, write_private_file
from sealbox.cli.kube_options import KubeOptions, with_kube_options
from sealbox.render import stderr_console

__all__ = ["backup_command"]


@with_kube_options
def backup_command(
    recipient: list[str] = typer.Option(
        ...,
        "--recipient",
        "-r",
        metavar="AGE",
        help="age1… X25519 recipient or ssh-ed25519/ssh-rsa public key line; repeatable.",
    ),
    key_namespace: str = typer.Option(
        "kube-system",
        "--key-namespace",
        envvar="SEALED_SECRETS_KEY_NAMESPACE",
        help="The controller's namespace, where its key Secrets live.",
    ),
    key_prefix: str = typer.Option(
        "sealed-secrets-key", "--key-prefix", help="The key Secrets' name prefix (legacy name)."
    ),
    key_wrap_config: Path | None = typer.Option(
        None,
        "--key-wrap-config",
        metavar="FILE",
        help="The KMS backend entry that unwraps wrapped keys (as the controller's).",
    ),
    output_file: Path | None = typer.Option(
        None, "--output-file", "-w", help="Write here (atomically, 0600) instead of stdout."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing --output-file."),
    no_record: bool = typer.Option(
        False, "--no-record", help="Do not annotate the key Secrets as backed up."
    ),
    *,
    kube: KubeOptions,
) -> None:
    """Back up every sealing key, encrypted to age recipients, and record that it was.

    The backup is a v1 List of the key Secrets (what sealbox seal --recovery-unseal and
    kubeseal --recovery-private-key read, and kubectl apply restores), age-encrypted and
    armored. Keys wrapped by a KMS are unwrapped (give --key-wrap-config) so the backup
    does not depend on that KMS. Once written, each key Secret is annotated
    sealbox.io/backed-up-at; the controller reports when the newest key has no backup yet,
    so a renewal (every 30 days) reminds you to run this again.

    Examples:

        sealbox seal backup -r age1example... --output-file keys.age
        sealbox seal backup -r "$(cat ~/.ssh/id_ed25519.pub)" > keys.age
    """
    if output_file is not None:
        check_output_file("--output-file", output_file, force=force)
    asyncio.run(
        _backup(
            kube,
            recipient,
            key_namespace,
            key_prefix,
            key_wrap_config,
            output_file,
            force=force,
            record=not no_record,
        )
    )


async def _backup(
    kube: KubeOptions,
    recipients: list[str],
    namespace: str,
    prefix: str,
    key_wrap_config: Path | None,
    output_file: Path | None,
    *,
    force: bool,
    record: bool,
) -> None:
    from sealbox.controllers.sealing import (
        backup_keys,
        load_key_wrapper,
        parse_recipients,
        record_backup,
    )
    from sealbox.kube import async_client

    parse_recipients(recipients)  # a bad recipient is refused before the cluster is asked
    wrapper = load_key_wrapper(key_wrap_config) if key_wrap_config is not None else None
    try:
        async with async_client(kube.target()) as client:
            backup = await backup_keys(
                client, namespace, recipients, wrapper=wrapper, prefix=prefix
            )
            if output_file is not None:
                write_private_file(
                    output_file, backup.encrypted, replace=force, flag="--output-file"
                )
            else:
                typer.echo(backup.encrypted.decode("ascii"), nl=False)
            if record:
                await record_backup(client, backup)
    finally:
        if wrapper is not None:
            wrapper.close()
    console = stderr_console()
    for key in backup.keys:
        console.print(
            f"backed up {namespace}/{key.secret_name}: key {key.fingerprint[:16]}, "
            f"not before {key.not_before:%Y-%m-%d}",
            highlight=False,
        )
    for name in backup.skipped:
        console.print(
            f"warning: {namespace}/{name}: not a usable key pair; skipped", highlight=False
        )
