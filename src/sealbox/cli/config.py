"""``sealbox config``: check an EncryptionConfiguration file, generate static keys for it, and
confirm the apiservers have loaded it."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from sealbox.cli.config_loaded import LOADED_HELP, loaded
from sealbox.encryption import (
    ConfigReport,
    EncryptionConfiguration,
    KeyKind,
    Resolution,
    generate_key,
    lint_config,
    lint_file,
    parse_group_resource,
    provider_snippet,
    resolve,
)
from sealbox.errors import ConfigError, ConfigIssue, InputError
from sealbox.render import OutputFormat, emit, stderr_console, stdout_console, table

__all__ = ["app"]

app = typer.Typer(
    help="Check kube-apiserver EncryptionConfiguration files, generate keys for them, and "
    "confirm the apiservers have loaded them.",
    no_args_is_help=True,
)


class KeyKindChoice(StrEnum):
    """The static providers a key can be generated for."""

    aescbc = "aescbc"
    aesgcm = "aesgcm"
    secretbox = "secretbox"


_KINDS: dict[KeyKindChoice, KeyKind] = {
    KeyKindChoice.aescbc: "aescbc",
    KeyKindChoice.aesgcm: "aesgcm",
    KeyKindChoice.secretbox: "secretbox",
}


def _report(file: str, reload: bool) -> ConfigReport:
    if file != "-":
        return lint_file(file, reload=reload)
    try:
        text = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("<stdin>", [ConfigIssue("", "the input is not UTF-8 text")]) from None
    return lint_config(text, "<stdin>", reload=reload)


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def _resolution_dict(resolution: Resolution) -> dict[str, Any]:
    write = resolution.write_provider
    return {
        "resource": str(resolution.resource),
        "rule": None if resolution.rule is None else str(resolution.rule),
        "entries": [entry.path for entry in resolution.entries],
        "write": None if write is None else write.label,
        "providers": [provider.label for provider in resolution.providers],
    }


def _issues(issues: tuple[ConfigIssue, ...]) -> list[dict[str, str]]:
    return [{"path": issue.path, "message": issue.message} for issue in issues]


def _document(
    file: str, report: ConfigReport, resolutions: list[Resolution] | None
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "file": file,
        "valid": report.valid,
        "errors": _issues(report.errors),
        "warnings": _issues(report.warnings),
    }
    if resolutions is not None:
        document["resources"] = [_resolution_dict(r) for r in resolutions]
    return document


def _folding(rendered: Table) -> Table:
    """Wrap long field paths instead of cutting them off with an ellipsis."""
    for column in rendered.columns:
        column.overflow = "fold"
    return rendered


def _issue_table(title: str, issues: tuple[ConfigIssue, ...]) -> Table:
    rows = [[escape(issue.path or "(file)"), escape(issue.message)] for issue in issues]
    return _folding(table(title, ["field", "problem"], rows))


def _print_table(file: str, report: ConfigReport, resolutions: list[Resolution] | None) -> None:
    console = stdout_console()
    if report.errors:
        console.print(_issue_table(f"Errors ({len(report.errors)})", report.errors))
    if report.warnings:
        console.print(_issue_table(f"Warnings ({len(report.warnings)})", report.warnings))
    if resolutions:
        rows = [
            [
                escape(str(r.resource)),
                escape(str(r.rule)) if r.rule else "-",
                ", ".join(e.path for e in r.entries) or "-",
                escape(" > ".join(p.label for p in r.providers))
                or "none: plaintext (apiserver default)",
            ]
            for r in resolutions
        ]
        header = ["resource", "matched rule", "entry", "providers (first writes)"]
        console.print(_folding(table("Provider chains", header, rows)))
    warned = f", {len(report.warnings)} warning(s)" if report.warnings else ""
    if report.valid:
        console.print(f"[green]valid[/green]: {escape(file)}{warned}")
    else:
        errors = f"{len(report.errors)} error(s)"
        console.print(f"[red]invalid[/red]: {escape(file)}: {errors}{warned}")


def _resolve_all(config: EncryptionConfiguration, names: list[str]) -> list[Resolution]:
    return [resolve(config, parse_group_resource(name)) for name in names]


# Help texts are one line per paragraph: typer keeps single line breaks as they are.
_VALIDATE_HELP = "\n\n".join(
    [
        "Check an EncryptionConfiguration the way kube-apiserver does, and warn about weak "
        "choices.",
        "Errors are what makes kube-apiserver refuse the file: YAML syntax, unknown or duplicate "
        "fields, a wrong kind/apiVersion, key sizes and base64, KMS name/endpoint/timeout/"
        "cachesize, resource names, overlapping or masked resources. Every error is listed, each "
        "with its field path.",
        "Warnings flag what it accepts but you probably should not: identity first (plaintext), "
        "aescbc, keys kept in the file, KMS v1 (needs --feature-gates=KMSv1=true since 1.29), "
        "Secrets left unencrypted.",
        "Exits 0 when the file is valid (warnings alone do not fail) and 1 when it is not. "
        "Examples:",
        "sealbox config validate /etc/kubernetes/encryption-config.yaml -r secrets",
        "sealbox config validate encryption-config.yaml -o json | jq .errors",
    ]
)
_KEYGEN_HELP = "\n\n".join(
    [
        "Print a fresh random key, base64 encoded, for the secret field of an aescbc, aesgcm or "
        "secretbox provider.",
        "The output is a secret: redirect it into your config, do not paste it into tickets. "
        "Examples:",
        "sealbox config keygen aesgcm",
        "sealbox config keygen secretbox --name key-2026-01 >> providers.yaml",
        "To rotate, put the new key FIRST in the keys list (it writes), keep the old key after "
        "it so existing data still reads, rewrite every object, then remove the old key.",
    ]
)


@app.command(help=_VALIDATE_HELP)
def validate(
    file: str = typer.Argument(
        ..., metavar="FILE", help="The EncryptionConfiguration file; '-' reads stdin."
    ),
    output: OutputFormat = typer.Option(
        OutputFormat.table, "--output", "-o", help="table (default), json or yaml."
    ),
    resource: list[str] | None = typer.Option(
        None,
        "--resource",
        "-r",
        help="Also show which provider chain these group-resources use, e.g. "
        "'secrets,configmaps,widgets.example.com' (repeatable).",
    ),
    automatic_reload: bool = typer.Option(
        False,
        "--automatic-reload",
        help="Check as kube-apiserver does with --encryption-provider-config-automatic-reload "
        "(KMS v1 provider names must then be unique too).",
    ),
) -> None:
    """Lint FILE; see ``_VALIDATE_HELP``. Exit 1 when invalid."""
    report = _report(file, automatic_reload)
    names = _split(resource)
    resolutions = None
    if names and report.config is not None:
        resolutions = _resolve_all(report.config, names)
    if output is OutputFormat.table:
        _print_table(file, report, resolutions)
        if names and report.config is None:
            stderr_console().print("provider chains not shown: the file is invalid")
    else:
        document = _document(file, report, resolutions)
        if names and report.config is None:
            document["resources"] = None
        emit(document, output)
    if not report.valid:
        raise typer.Exit(1)


@app.command(help=_KEYGEN_HELP)
def keygen(
    kind: KeyKindChoice = typer.Argument(..., metavar="KIND", help="aescbc, aesgcm or secretbox."),
    size: int = typer.Option(
        32, "--size", "-s", help="Key size in bytes: 16, 24 or 32 for AES; secretbox needs 32."
    ),
    name: str | None = typer.Option(
        None,
        "--name",
        help="Print a providers element (YAML) holding the key under this name instead of the "
        "bare key.",
    ),
) -> None:
    """Print a new base64 key (or a providers element); see ``_KEYGEN_HELP``."""
    try:
        key = generate_key(_KINDS[kind], size=size)
    except ValueError as exc:
        raise InputError(f"--size {size}: {exc}") from None
    typer.echo(provider_snippet(_KINDS[kind], name, key).rstrip("\n") if name else key)


app.command(name="loaded", help=LOADED_HELP)(loaded)
