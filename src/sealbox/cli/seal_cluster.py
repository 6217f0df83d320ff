"""``sealbox seal --validate`` and ``--re-encrypt``: SealedSecrets checked or re-sealed by the
live controller (``/v1/verify``, ``/v1/rotate`` through the service proxy), as kubeseal does.

The plaintext never leaves the cluster. Each SealedSecret of the input is sent on its own (the
endpoints take one document). ``--re-encrypt`` of a FILE without ``--output-file`` rewrites the
file in place, atomically and in its own format, only once every document was re-sealed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sealbox.cli.io import read_input
from sealbox.cli.seal_certs import Controller
from sealbox.cli.seal_files import FormatChoice, documents, file_format, render, replace_file
from sealbox.cli.seal_merge import checked_sealed_secret
from sealbox.errors import SealError

__all__ = ["re_encrypt", "sealed_secrets", "validate"]


def sealed_secrets(file: str) -> tuple[list[dict[str, Any]], str, bytes]:
    """The SealedSecrets of FILE (``-``: stdin), its label and raw bytes (InputError if any
    document is not a SealedSecret)."""
    label = "stdin" if file == "-" else file
    data = read_input(file, "FILE")
    found = documents(data, label, "a SealedSecret")
    checked = [
        checked_sealed_secret(doc, label if len(found) == 1 else f"{label} document {i + 1}")
        for i, doc in enumerate(found)
    ]
    return checked, label, data


def validate(file: str, controller: Controller) -> None:
    """Every SealedSecret of FILE opens in the controller, else SealError naming those that
    do not."""
    objects, label, _ = sealed_secrets(file)
    failed = []
    with controller.service() as service:
        for sealed in objects:
            if not service.verify(json.dumps(sealed).encode()):
                failed.append(_name(sealed))
    if failed:
        raise SealError(
            f"{label}: unable to decrypt sealed secret: {', '.join(failed)} ({controller} holds "
            "no key that opens every item; sealed for another cluster, or with the wrong scope?)"
        )


def re_encrypt(
    file: str, controller: Controller, output_format: FormatChoice | None, in_place: bool
) -> str | None:
    """FILE's SealedSecrets re-sealed with the controller's newest key: the text to print, or
    None when FILE was rewritten in place."""
    objects, _, data = sealed_secrets(file)
    with controller.service() as service:
        rotated = [service.rotate(json.dumps(sealed).encode()) for sealed in objects]
    if in_place:
        path = Path(file)
        replace_file(
            path, render(rotated, output_format or file_format(path, data)).encode(), "FILE"
        )
        return None
    return render(rotated, output_format or FormatChoice.json)


def _name(sealed: dict[str, Any]) -> str:
    meta = sealed["metadata"]
    return f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else str(meta["name"])
