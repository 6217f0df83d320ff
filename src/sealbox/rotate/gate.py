"""The loaded-everywhere gate: a rotation stage goes on only once every apiserver runs its file.

A control plane has several kube-apiservers, each reading its own copy of the
EncryptionConfiguration. Promoting a new key while one of them still runs the previous file makes
it write values the others cannot read yet (or, after a removal, read values it can no longer
decrypt). So between stages Sealbox asks *each* apiserver, by URL, which file it has loaded: the
``hash`` label of ``apiserver_encryption_config_controller_last_config_info`` on its
``/metrics`` (kms-spec §1.8, §6), compared byte for byte with the staged file's
:func:`~sealbox.encryption.config_hash`.

* :func:`discover_apiservers` (from :mod:`sealbox.rotate.discovery`) finds the apiservers of a
  cluster the way its own Service does: the ``kubernetes`` EndpointSlice in ``default`` (every
  ready address on the https port), else the kubeconfig's server.
* :func:`loaded_everywhere` asks each one once, concurrently; an apiserver that cannot be asked
  is an :class:`ApiserverView` with an ``error``, never an exception, so one stopped apiserver
  does not hide what the others say.
* :func:`wait_loaded` polls until every apiserver reports the hash, telling the operator (through
  ``report``) which apiservers lag and why each time that changes, and raises
  :class:`~sealbox.errors.RotationBlocked` naming every laggard when time runs out.
* :func:`key_id_hashes` and :func:`wait_kms_key_id` do the same for a rotated KMS v2 key: an
  apiserver has taken up a new key_id once its Status poll reported it or it has encrypted with
  it (``apiserver_envelope_encryption_key_id_hash_*``, labels hashed as ``sha256:<hex>``).

Credentials that an apiserver refuses (401, 403, an untrusted certificate) end a wait at once:
that does not fix itself by waiting. Nothing here ever carries a key, token or value.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from lightkube.config.kubeconfig import SingleConfig

from sealbox.encryption import LAST_CONFIG_METRIC, parse_loaded
from sealbox.errors import InputError, KubeUnavailable, RotationBlocked, SealboxError
from sealbox.rotate.discovery import apiserver_urls, discover_apiservers, urls_from_endpoint_slice

__all__ = [
    "KEY_ID_STATUS_METRIC",
    "KEY_ID_TOTAL_METRIC",
    "ApiserverView",
    "apiserver_urls",
    "discover_apiservers",
    "key_id_hashes",
    "loaded_everywhere",
    "parse_key_id_hashes",
    "short_hash",
    "urls_from_endpoint_slice",
    "wait_kms_key_id",
    "wait_loaded",
]

KEY_ID_TOTAL_METRIC = "apiserver_envelope_encryption_key_id_hash_total"
KEY_ID_STATUS_METRIC = "apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds"
_V = TypeVar("_V", "ApiserverView", "_KeyView")
_REQUEST_SECONDS = 10.0  # one /metrics read; an apiserver slower than that counts as lagging
_RELOAD_HINT = (
    "it re-reads its file about once a minute with --encryption-provider-config-automatic-reload; "
    "without that flag restart it"
)


@dataclass(frozen=True, slots=True)
class ApiserverView:
    """What one apiserver said: the config hash it has loaded, or why it could not be asked.

    ``reload_failed_at`` is the Unix time of its last automatic reload when that one failed
    (it then kept its previous file). ``cause`` keeps the typed error behind ``error``.
    """

    url: str
    loaded_hash: str | None
    error: str | None
    loaded: bool = False
    reload_failed_at: float | None = None
    cause: SealboxError | None = field(default=None, compare=False, repr=False)

    def lag(self) -> str | None:
        """One line saying why this apiserver has not loaded the expected file (None: it has)."""
        if self.error is not None:
            return f"{self.url}: {self.error}"
        if self.loaded:
            return None
        running = short_hash(self.loaded_hash or "")
        if self.reload_failed_at is not None:
            return (
                f"{self.url} still runs {running}: its last reload failed at "
                f"{_stamp(self.reload_failed_at)} and it kept that file; see its log "
                "(sealbox config validate FILE shows what it refuses)"
            )
        return f"{self.url} still runs {running} (not this file): {_RELOAD_HINT}"


def short_hash(value: str) -> str:
    """``sha256:1a2b3c4d…``: enough of a hash to tell files apart in a message."""
    algorithm, _, digest = value.partition(":")
    return f"{algorithm}:{digest[:8]}…" if len(digest) > 8 else value


# --- the config hash each apiserver runs ---------------------------------------------------


def loaded_everywhere(
    config: SingleConfig,
    urls: Sequence[str],
    expected_hash: str,
    *,
    request_timeout: float = _REQUEST_SECONDS,
) -> list[ApiserverView]:
    """Ask each apiserver (one ``/metrics`` read each, concurrently) which config it runs.

    One view per URL (repeats dropped), in order; the gate is open when every view is
    ``loaded`` (it reported exactly ``expected_hash``); :meth:`ApiserverView.lag` says why not.
    """
    return _ask_all(urls, lambda url: _view(config, url, expected_hash, request_timeout))


def wait_loaded(
    config: SingleConfig,
    urls: Sequence[str],
    expected_hash: str,
    *,
    timeout: float,
    poll: float = 5.0,
    report: Callable[[str], None],
    request_timeout: float = _REQUEST_SECONDS,
) -> list[ApiserverView]:
    """Return once every apiserver in ``urls`` reports ``expected_hash`` (the final views).

    Each time the lagging apiservers or their reasons change, ``report`` gets one line per
    apiserver that changed: why it lags, or that it has now loaded the file.

    Raises:
        RotationBlocked: ``timeout`` seconds passed with apiservers still lagging; names each.
        KubeConfigError, KubeForbidden: an apiserver refused the credentials (not worth waiting).
    """

    def ask() -> list[ApiserverView]:
        return loaded_everywhere(config, urls, expected_hash, request_timeout=request_timeout)

    what = f"loaded {short_hash(expected_hash)}"
    return _wait(ask, lambda view: view.lag(), what, timeout, poll, report)


# --- KMS v2 key_id -------------------------------------------------------------------------


def parse_key_id_hashes(text: str, *, provider: str | None = None) -> set[str]:
    """The key_id hashes a Prometheus exposition says its apiserver has taken up: those its KMS
    v2 Status poll reported, and those it encrypted with (``to_storage``); only ``provider``'s
    when given. Hashes it merely decrypted with (another apiserver's writes) do not count."""
    from prometheus_client.parser import text_string_to_metric_families  # only when asked

    wanted = "\n".join(line for line in text.splitlines() if "_key_id_hash_" in line)
    try:
        families = list(text_string_to_metric_families(wanted + "\n"))
    except ValueError as exc:
        raise ValueError(f"not Prometheus text ({exc})") from None
    found: set[str] = set()
    for family in families:
        for sample in family.samples:
            labels = sample.labels
            if not labels.get("key_id_hash"):
                continue
            if provider is not None and labels.get("provider_name") != provider:
                continue
            if sample.name == KEY_ID_STATUS_METRIC or (
                sample.name == KEY_ID_TOTAL_METRIC
                and labels.get("transformation_type") == "to_storage"
            ):
                found.add(labels["key_id_hash"])
    return found


def key_id_hashes(
    config: SingleConfig,
    url: str,
    *,
    provider: str | None = None,
    request_timeout: float = _REQUEST_SECONDS,
) -> set[str]:
    """:func:`parse_key_id_hashes` of one apiserver's ``/metrics`` (typed errors as
    :func:`sealbox.kube.fetch_metrics` raises them)."""
    from sealbox.kube import fetch_metrics

    text = fetch_metrics(config, url, timeout=request_timeout)
    try:
        return parse_key_id_hashes(text, provider=provider)
    except ValueError:
        raise InputError(
            f"{url}/metrics: not Prometheus text; is {url} a kube-apiserver?"
        ) from None


def wait_kms_key_id(
    config: SingleConfig,
    urls: Sequence[str],
    key_id_hash: str,
    *,
    timeout: float,
    poll: float = 5.0,
    report: Callable[[str], None],
    provider: str | None = None,
    request_timeout: float = _REQUEST_SECONDS,
) -> None:
    """Return once every apiserver has taken up the KMS v2 key_id whose hash is ``key_id_hash``
    (``sha256:<hex>`` of the key_id, :func:`sealbox.kms.key_id_hash`).

    An apiserver asks its plugin's Status about once a minute, so expect up to a minute or so.
    Raises as :func:`wait_loaded` does.
    """

    def ask_one(url: str) -> _KeyView:
        try:
            hashes = key_id_hashes(config, url, provider=provider, request_timeout=request_timeout)
        except SealboxError as exc:
            return _KeyView(url, frozenset(), _error_text(exc), exc)
        return _KeyView(url, frozenset(hashes), None, None)

    def lag(view: _KeyView) -> str | None:
        if view.error is not None:
            return f"{view.url}: {view.error}"
        if key_id_hash in view.hashes:
            return None
        which = f"provider {provider}'s" if provider else "its KMS v2"
        return (
            f"{view.url} has not taken up key_id {short_hash(key_id_hash)} yet: it asks "
            f"{which} plugin's Status about once a minute"
        )

    what = f"taken up key_id {short_hash(key_id_hash)}"
    _wait(lambda: _ask_all(urls, ask_one), lag, what, timeout, poll, report)


# --- shared machinery ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _KeyView:
    url: str
    hashes: frozenset[str]
    error: str | None
    cause: SealboxError | None


def _ask_all(urls: Sequence[str], ask: Callable[[str], _V]) -> list[_V]:
    targets = apiserver_urls(urls)
    if not targets:
        raise InputError("no apiserver to ask: name one with --apiserver URL")
    if len(targets) == 1:
        return [ask(targets[0])]
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        return list(pool.map(ask, targets))


def _wait(
    ask: Callable[[], list[_V]],
    lag: Callable[[_V], str | None],
    what: str,
    timeout: float,
    poll: float,
    report: Callable[[str], None],
) -> list[_V]:
    deadline = time.monotonic() + timeout
    said: dict[str, str | None] = {}
    while True:
        views = ask()
        for view in views:
            if view.cause is not None and view.cause.exit_code == 2:
                raise view.cause  # refused credentials or a setup error: waiting cannot help
        lines = {view.url: lag(view) for view in views}
        for url, line in lines.items():
            if said.get(url) != line and (line is not None or url in said):
                report(line if line is not None else f"{url} has {what}")
        said = lines
        lagging = [line for line in lines.values() if line is not None]
        if not lagging:
            return views
        left = deadline - time.monotonic()
        if left <= 0:
            raise RotationBlocked(
                f"{len(lagging)} of {len(views)} apiservers have not {what} after "
                f"{timeout:g}s: " + "; ".join(lagging),
                lagging=tuple(url for url, line in lines.items() if line is not None),
            )
        time.sleep(min(poll, left))


def _view(
    config: SingleConfig, url: str, expected_hash: str, request_timeout: float
) -> ApiserverView:
    from sealbox.kube import fetch_metrics

    try:
        text = fetch_metrics(config, url, timeout=request_timeout)
    except SealboxError as exc:
        return ApiserverView(url, None, _error_text(exc), cause=exc)
    try:
        found = parse_loaded(text)
    except ValueError:
        problem = InputError(f"{url}/metrics: not Prometheus text; is {url} a kube-apiserver?")
        return ApiserverView(url, None, "its /metrics is not Prometheus text", cause=problem)
    if found is None:
        return ApiserverView(
            url,
            None,
            f"reports no {LAST_CONFIG_METRIC}: it runs without --encryption-provider-config; "
            "restart it with --encryption-provider-config=FILE "
            "--encryption-provider-config-automatic-reload",
        )
    failed = found.last_failure
    if failed is not None and (found.last_success or 0) >= failed:
        failed = None
    hashes = set(found.hashes)
    loaded = found.hashes[0] if len(hashes) == 1 else None
    if loaded is None:
        listed = ", ".join(sorted(short_hash(h) for h in hashes))
        return ApiserverView(url, None, f"reports several loaded configs ({listed})")
    return ApiserverView(url, loaded, None, loaded == expected_hash, reload_failed_at=failed)


_UNAVAILABLE = re.compile(
    r"cannot serve now \((?P<last>.*)\); gave up|cannot connect \((?P<c>.*)\)$"
)
_NOISE = re.compile(r"^(\w+(Error|Timeout): )?(\[Errno -?\d+\] )?")


def _error_text(exc: SealboxError) -> str:
    """The reason an apiserver could not be asked, stable from one poll to the next (no
    elapsed times) so that an unchanged outage is reported once: ``unreachable (connection
    refused)``, ``unavailable (HTTP 503)``, else the error's own words."""
    message = str(exc)
    _, sep, rest = message.partition("/metrics: ")
    detail = rest if sep else message
    if not isinstance(exc, KubeUnavailable):
        return detail
    if exc.status:  # 429 or 5xx, still after the retries
        return f"unavailable (HTTP {exc.status})"
    match = _UNAVAILABLE.search(detail)
    if match:
        cause = _NOISE.sub("", match.group("last") or match.group("c") or "")
        return f"unreachable ({cause[:1].lower()}{cause[1:]})"
    return f"unreachable ({detail})"


def _stamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")
