"""``sealbox config loaded``: has every apiserver loaded exactly this EncryptionConfiguration?

Each apiserver is asked for its ``/metrics`` (``--apiserver`` names each one directly; without
it, the kubeconfig's server) and the hash it reports is compared with the file's. The command
exits 0 only when every apiserver has loaded exactly this file, 1 when one has not (or has not
reloaded it yet); an apiserver that cannot be asked is an ``error:`` line with its own code.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from sealbox.cli.kube_options import KubeOptions, with_kube_options
from sealbox.duration import duration_in_range
from sealbox.errors import ConfigError, ConfigIssue, InputError, SealboxError
from sealbox.render import OutputFormat, emit, stdout_console, table

if TYPE_CHECKING:
    from lightkube.config.kubeconfig import SingleConfig

    from sealbox.encryption import LoadedConfig

__all__ = ["LOADED_HELP", "loaded"]

LOADED_HELP = "\n\n".join(
    [
        "Check that every kube-apiserver has loaded exactly this EncryptionConfiguration file.",
        "Each apiserver reports the SHA-256 of the file it last loaded in the metric "
        "apiserver_encryption_config_controller_last_config_info on /metrics; this compares it "
        "with the hash of FILE, byte for byte. With --encryption-provider-config-automatic-reload "
        "an apiserver re-reads its file about once a minute, so right after you change the file "
        "expect 'not loaded' for up to a minute or so; without that flag only a restart loads it.",
        "Name each apiserver with --apiserver: behind a load balancer the kubeconfig's server "
        "answers from any one of them. Credentials and CAs come from the kubeconfig; the user "
        "needs get on the non-resource URL /metrics.",
        "Exits 0 when every apiserver has loaded FILE, 1 when one has not. Examples:",
        "sealbox config loaded /etc/kubernetes/encryption-config.yaml",
        "sealbox config loaded --kubeconfig admin.conf \\\n"
        "  --apiserver https://10.0.0.11:6443 --apiserver https://10.0.0.12:6443 \\\n"
        "  /etc/kubernetes/encryption-config.yaml -o json",
    ]
)


@dataclass(frozen=True, slots=True)
class _Answer:
    url: str
    loaded: LoadedConfig | None = None
    error: SealboxError | None = None


@with_kube_options
def loaded(
    file: Path = typer.Argument(
        ...,
        metavar="FILE",
        help="The EncryptionConfiguration file the apiservers should have loaded.",
        show_default=False,
    ),
    apiserver: list[str] | None = typer.Option(
        None,
        "--apiserver",
        metavar="URL",
        help="An apiserver to ask, e.g. https://10.0.0.11:6443 (repeatable); default: the "
        "kubeconfig's server.",
        show_default=False,
    ),
    *,
    kube: KubeOptions,
    timeout: str = typer.Option(
        "10s", "--timeout", help="How long to wait for each apiserver, e.g. 10s; 10ms to 5m."
    ),
    output: OutputFormat = typer.Option(
        OutputFormat.table, "--output", "-o", help="table (default), json or yaml."
    ),
) -> None:
    """Compare FILE's hash with each apiserver's; see :data:`LOADED_HELP`."""
    from sealbox.encryption import expected_hash
    from sealbox.kube import apiserver_url, load_config

    urls = [apiserver_url(value) for value in apiserver or ()]
    seconds = _seconds(timeout)
    expected = expected_hash(file)
    config = load_config(kube.target())
    targets: list[str | None] = [*urls] or [None]
    answers = [_ask(config, url, seconds) for url in targets]
    answered = [answer for answer in answers if answer.loaded is not None]
    if answered:
        if output is OutputFormat.table:
            _print_table(file, expected, answers)
        else:
            emit(_document(file, expected, answers), output)
    errors = [answer.error for answer in answers if answer.error is not None]
    for error in errors:
        typer.echo(f"error: {error}", err=True)
    if errors:
        raise typer.Exit(max(error.exit_code for error in errors))
    if not all(answer.loaded is not None and answer.loaded.matches(expected) for answer in answers):
        raise typer.Exit(1)


def _ask(config: SingleConfig, url: str | None, timeout: float) -> _Answer:
    from sealbox.encryption import LAST_CONFIG_METRIC, parse_loaded
    from sealbox.kube import fetch_metrics

    where = url or str(config.cluster.server).rstrip("/")
    try:
        text = fetch_metrics(config, url, timeout=timeout)
    except SealboxError as exc:
        return _Answer(where, error=exc)
    try:
        found = parse_loaded(text)
    except ValueError:
        problem = f"{where}/metrics: not Prometheus text; is {where} a kube-apiserver?"
        return _Answer(where, error=InputError(problem))
    if found is None:
        problem = (
            f"{where}/metrics has no {LAST_CONFIG_METRIC}: this apiserver runs without "
            "--encryption-provider-config; start it with --encryption-provider-config=FILE "
            "--encryption-provider-config-automatic-reload"
        )
        return _Answer(where, error=InputError(problem))
    return _Answer(where, loaded=found)


def _seconds(text: str) -> float:
    value = text.strip()
    try:
        float(value)
        value += "s"
    except ValueError:
        pass
    try:
        return duration_in_range(value, low="10ms", high="5m", example="10s")
    except ValueError:
        problem = f"expected a duration between 10ms and 5m such as 10s; got {text[:40]!r}"
        raise ConfigError("command line", [ConfigIssue("--timeout", problem)]) from None


def _time(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _row(answer: _Answer, expected: str) -> dict[str, Any]:
    found = answer.loaded
    if found is None:
        return {"url": answer.url, "error": str(answer.error), "match": False}
    return {
        "url": answer.url,
        "loaded_hash": found.hashes[0] if len(found.hashes) == 1 else list(found.hashes),
        "expected_hash": expected,
        "match": found.matches(expected),
        "last_reload": _time(found.last_success),
        "last_failed_reload": _time(found.last_failure),
    }


def _document(file: Path, expected: str, answers: list[_Answer]) -> dict[str, Any]:
    rows = [_row(answer, expected) for answer in answers]
    return {
        "file": str(file),
        "expected_hash": expected,
        "loaded": all(row["match"] for row in rows),
        "apiservers": rows,
    }


def _short(value: str) -> str:
    algorithm, _, digest = value.partition(":")
    return f"{algorithm}:{digest[:8]}" if digest else value[:15]


def _print_table(file: Path, expected: str, answers: list[_Answer]) -> None:
    rows = []
    for answer in answers:
        if answer.loaded is None:
            rows.append([escape(answer.url), "-", _short(expected), "error", "-"])
            continue
        found = answer.loaded
        rows.append(
            [
                escape(answer.url),
                ", ".join(_short(value) for value in found.hashes),
                _short(expected),
                "yes" if found.matches(expected) else "[red]no[/red]",
                _reload_text(found),
            ]
        )
    header = ["apiserver", "loaded hash", "expected hash", "match", "last reload"]
    console = stdout_console()
    rendered = table(f"Encryption config loaded: {escape(str(file))}", header, rows)
    for column in rendered.columns:
        column.overflow = "fold"  # a URL or a hash cut short with an ellipsis says nothing
    console.print(rendered)
    for answer in answers:
        if answer.loaded is not None and not answer.loaded.matches(expected):
            console.print(f"[red]not loaded[/red]: {escape(answer.url)}: {_why(answer.loaded)}")
    if all(a.loaded is not None and a.loaded.matches(expected) for a in answers):
        console.print(f"[green]loaded[/green]: {escape(str(file))} on every apiserver asked")


def _reload_text(found: LoadedConfig) -> str:
    success, failure = _time(found.last_success), _time(found.last_failure)
    if failure and (found.last_success or 0) < (found.last_failure or 0):
        return f"failed {failure}"
    return success or "-"


def _why(found: LoadedConfig) -> str:
    if found.last_failure is not None and (found.last_success or 0) < found.last_failure:
        return (
            f"its last reload failed at {_time(found.last_failure)} and it kept the config it "
            "had; see its log"
        )
    return (
        "it reports another file; with --encryption-provider-config-automatic-reload it "
        "re-reads the file about every minute (try again shortly), without it only a restart "
        "loads the file"
    )
