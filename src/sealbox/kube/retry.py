"""Retrying what is safe to repeat when the apiserver is overloaded, failing or out of reach.

The retries live in an httpx2 *transport* that wraps the real one, not around lightkube's
methods: lightkube sends every request (each page of a list, the opening of a watch, an apply)
through the one httpx2 client it is given, so a transport sees each request exactly once and can
retry just that request, where a wrapper around ``Client.list`` could only start a whole
iteration again. The transport also sees the method, headers and body, which is what decides
whether repeating is safe:

* reads (``GET``/``HEAD``: get, list pages, the start of a watch);
* server-side apply (``PATCH`` with ``application/apply-patch+yaml``): applying twice is applying
  once;
* a ``PUT`` whose body carries ``metadata.resourceVersion``: if the first one did land, the
  repeat is refused with 409 instead of overwriting anything;
* any request whose connection could not even be opened (it was never sent).

It retries on 429 and 5xx answers and on connection errors, waiting with jittered exponential
backoff, or as long as the answer's ``Retry-After`` says. Attempts and total time are bounded by
a :class:`RetryPolicy`; when they run out it raises :class:`~sealbox.errors.KubeUnavailable`
(a request that is not safe to repeat gets its first answer back untouched).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass

import httpx2

from sealbox.errors import KubeUnavailable
from sealbox.kube.errors import describe_request

__all__ = ["AsyncRetryTransport", "RetryPolicy", "RetryTransport"]

_LOG = logging.getLogger(__name__)
_JITTER = random.SystemRandom()  # any source would do; this one needs no lint exemption
_APPLY = "application/apply-patch+yaml"
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})
# Connection could not be opened: the request was never sent, so any method may go again.
_NOT_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
# Broke after sending: only a request that is safe to repeat may go again.
_BROKEN = (httpx2.ReadError, httpx2.WriteError, httpx2.RemoteProtocolError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: at most ``attempts`` sends within ``total_seconds``; waits grow from
    ``base_seconds`` by doubling up to ``max_wait_seconds``, each drawn at random from its upper
    half (jitter, so clients that failed together do not return together). A ``Retry-After``
    longer than the time left ends the attempts at once."""

    attempts: int = 5
    total_seconds: float = 30.0
    base_seconds: float = 0.2
    max_wait_seconds: float = 5.0

    def backoff(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based) when the server named none."""
        ceiling = min(self.max_wait_seconds, self.base_seconds * 2 ** (retry - 1))
        return _JITTER.uniform(ceiling / 2, ceiling)


def repeatable(request: httpx2.Request) -> bool:
    """Whether sending ``request`` twice does no more than sending it once (module docstring)."""
    method = request.method
    if method in ("GET", "HEAD"):
        return True
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if method == "PATCH":
        return content_type == _APPLY
    if method == "PUT":
        try:
            body = json.loads(request.content)
        except (httpx2.RequestNotRead, ValueError):
            return False
        metadata = body.get("metadata") if isinstance(body, dict) else None
        return isinstance(metadata, dict) and bool(metadata.get("resourceVersion"))
    return False


def retry_after(response: httpx2.Response) -> float | None:
    """Seconds the server asked to wait (``Retry-After``: seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Attempts:
    """The bookkeeping both transports share: whether to go again, and after how long."""

    def __init__(self, policy: RetryPolicy, request: httpx2.Request) -> None:
        self.policy = policy
        self.request = request
        self.safe = repeatable(request)
        self.started = time.monotonic()
        self.count = 0

    def after_status(self, response: httpx2.Response) -> float | KubeUnavailable | None:
        """None: hand ``response`` back; seconds: close it and resend after them; an error:
        close it and raise that (the attempts are used up)."""
        if response.status_code not in _RETRIED_STATUS or not self.safe:
            return None
        wait = self._wait(retry_after(response))
        what = f"{response.status_code} {response.reason_phrase}"
        if wait is None:
            reason = response.reason_phrase.replace(" ", "")  # as a Status says it: TooManyRequests
            return self._exhausted(what, status=response.status_code, reason=reason)
        _LOG.debug("%s: %s, retry %d in %.2fs", self._name, what, self.count, wait)
        return wait

    def after_error(self, exc: httpx2.TransportError) -> float:
        """Seconds to wait before resending after ``exc``; raises it (or KubeUnavailable once the
        attempts are used up) when it may not be resent."""
        if not isinstance(exc, _NOT_SENT) and not (isinstance(exc, _BROKEN) and self.safe):
            raise exc
        wait = self._wait(None)
        what = type(exc).__name__
        if wait is None:
            raise self._exhausted(f"{what}: {exc}", status=0, reason=what) from None
        _LOG.debug("%s: %s, retry %d in %.2fs", self._name, what, self.count, wait)
        return wait

    @property
    def _name(self) -> str:
        return describe_request(self.request)

    def _wait(self, asked: float | None) -> float | None:
        if self.count >= self.policy.attempts:
            return None
        wait = asked if asked is not None else self.policy.backoff(self.count)
        if asked is not None:
            wait += _JITTER.uniform(0, min(1.0, asked * 0.1))  # do not all return on one tick
        left = self.policy.total_seconds - (time.monotonic() - self.started)
        return wait if wait < left else None

    def _exhausted(self, last: str, *, status: int, reason: str) -> KubeUnavailable:
        spent = time.monotonic() - self.started
        return KubeUnavailable(
            f"{self._name}: the apiserver cannot serve now ({last}); gave up after {self.count} "
            f"attempt{'s' if self.count != 1 else ''} in {spent:.1f}s",
            status=status,
            reason=reason,
        )


class RetryTransport(httpx2.BaseTransport):
    """A transport that resends a repeatable request on 429, 5xx and connection errors."""

    def __init__(self, inner: httpx2.BaseTransport, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        attempts = _Attempts(self.policy, request)
        while True:
            attempts.count += 1
            try:
                response = self.inner.handle_request(request)
            except httpx2.TransportError as exc:
                time.sleep(attempts.after_error(exc))
                continue
            verdict = attempts.after_status(response)
            if verdict is None:
                return response
            response.close()
            if isinstance(verdict, KubeUnavailable):
                raise verdict
            time.sleep(verdict)

    def close(self) -> None:
        self.inner.close()


class AsyncRetryTransport(httpx2.AsyncBaseTransport):
    """:class:`RetryTransport` for the async client."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, policy: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        attempts = _Attempts(self.policy, request)
        while True:
            attempts.count += 1
            try:
                response = await self.inner.handle_async_request(request)
            except httpx2.TransportError as exc:
                await asyncio.sleep(attempts.after_error(exc))
                continue
            verdict = attempts.after_status(response)
            if verdict is None:
                return response
            await response.aclose()
            if isinstance(verdict, KubeUnavailable):
                raise verdict
            await asyncio.sleep(verdict)

    async def aclose(self) -> None:
        await self.inner.aclose()
