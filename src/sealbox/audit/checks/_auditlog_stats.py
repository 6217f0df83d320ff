"""Aggregate audit-log requests per identity and spot what :mod:`.audit_log` reports.

Memory is bounded by the number of identities and of distinct Secrets each one read (the
per-identity aggregates the summary shows), plus the events inside the two sliding time windows.
Every finding is remembered by its first request only (lowest line), with counts filled in at the
end; nothing from a request or response body ever reaches this module.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from sealbox.audit.checks._auditlog_parse import Dedupe, Request
from sealbox.audit.model import Location, ObjectRef

__all__ = ["Analysis", "Hit", "identity_kind"]

_READ_VERBS = ("get", "list", "watch")
_BODY_LEVELS = frozenset({"Request", "RequestResponse"})
_DENIED = frozenset({401, 403})
_BUILTIN_KINDS = frozenset({"node", "control-plane", "kube-system service account"})


def identity_kind(user: str, groups: tuple[str, ...]) -> str:
    """node, control-plane, kube-system service account, service account, anonymous or user."""
    if user.startswith("system:node:") or "system:nodes" in groups:
        return "node"
    if user.startswith("system:serviceaccount:"):
        namespace = user.split(":")[2] if user.count(":") >= 3 else ""
        return "kube-system service account" if namespace == "kube-system" else "service account"
    if user == "system:anonymous" or "system:unauthenticated" in groups:
        return "anonymous"
    if user.startswith("system:"):
        return "control-plane"
    return "user"


@dataclass(frozen=True, slots=True)
class Hit:
    """A finding before it meets its Control: id, message, place, object, details."""

    control: str
    message: str
    location: Location
    obj: ObjectRef | None
    details: dict[str, Any]


@dataclass
class _Identity:
    user: str
    kind: str
    builtin: bool
    expected: bool
    verbs: Counter[str] = field(default_factory=Counter)
    cluster_wide: Counter[str] = field(default_factory=Counter)
    secrets: set[tuple[str, str]] = field(default_factory=set)
    namespaces: set[str] = field(default_factory=set)
    denied_secret_reads: int = 0
    denied: int = 0
    read_window: deque[tuple[datetime, tuple[str, str], int]] = field(default_factory=deque)
    read_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    denied_window: deque[tuple[datetime, int]] = field(default_factory=deque)

    @property
    def label(self) -> str:
        return f"{self.user or '(no user name)'} ({self.kind})"


def _secret(request: Request) -> ObjectRef | None:
    if not request.name:
        return None
    return ObjectRef("Secret", request.namespace or None, request.name)


class Analysis:
    """Feed events, call :meth:`finish`, then read :meth:`hits` and :meth:`summary`."""

    def __init__(
        self,
        path: str,
        expected_readers: tuple[str, ...],
        *,
        read_burst: tuple[int, timedelta],
        denied_burst: tuple[int, timedelta],
    ) -> None:
        self.path = path
        self.expected_readers = expected_readers
        self.read_burst = read_burst
        self.denied_burst = denied_burst
        self.lines = 0
        self.events = 0
        self.requests = 0
        self._dedupe = Dedupe()
        self._identities: dict[str, _Identity] = {}
        self._first: dict[tuple[str, ...], tuple[int, ObjectRef | None]] = {}
        self._bursts: dict[tuple[str, ...], dict[str, Any]] = {}
        self._impersonated: Counter[tuple[str, str]] = Counter()
        self._impersonated_reads: Counter[tuple[str, str]] = Counter()
        self._body_levels: Counter[str] = Counter()

    def feed(self, event: Request) -> None:
        self.events += 1
        for request in self._dedupe.feed(event):
            self._observe(request)

    def finish(self) -> None:
        for request in self._dedupe.flush():
            self._observe(request)

    def _expected(self, user: str, groups: tuple[str, ...]) -> bool:
        for pattern in self.expected_readers:
            if pattern.startswith("group:"):
                if any(fnmatchcase(group, pattern[6:]) for group in groups):
                    return True
            elif fnmatchcase(user, pattern):
                return True
        return False

    def _identity(self, request: Request) -> _Identity:
        found = self._identities.get(request.user)
        if found is None:
            kind = identity_kind(request.user, request.groups)
            builtin = kind in _BUILTIN_KINDS
            expected = builtin or self._expected(request.user, request.groups)
            found = _Identity(request.user, kind, builtin, expected)
            self._identities[request.user] = found
        return found

    def _remember(self, key: tuple[str, ...], request: Request) -> None:
        known = self._first.get(key)
        if known is None or request.line < known[0]:
            self._first[key] = (request.line, _secret(request))

    def _observe(self, request: Request) -> None:
        self.requests += 1
        who = self._identity(request)
        denied = request.code in _DENIED
        if denied:
            who.denied += 1
            self._denied_burst(who, request)
        secrets = request.resource == "secrets" and request.api_group == ""
        pair = (request.user, request.impersonated or "")
        if request.impersonated is not None:
            self._impersonated[pair] += 1
        if secrets and request.level in _BODY_LEVELS:
            self._body_levels[request.level] += 1
            self._remember(("SBX-604",), request)
        if not secrets or request.subresource or request.verb not in _READ_VERBS:
            return
        if denied:
            who.denied_secret_reads += 1
            return
        if request.code is not None and request.code >= 400:
            return
        self._read(who, request, pair)

    def _read(self, who: _Identity, request: Request, pair: tuple[str, str]) -> None:
        who.verbs[request.verb] += 1
        if request.namespace:
            who.namespaces.add(request.namespace)
        elif request.verb in ("list", "watch"):
            who.cluster_wide[request.verb] += 1
            if not who.expected:
                self._remember(("SBX-601", who.user), request)
        if request.name:
            who.secrets.add((request.namespace, request.name))
        if not who.expected:
            self._remember(("SBX-602", who.user), request)
        if request.impersonated is not None:
            self._impersonated_reads[pair] += 1
            self._remember(("SBX-605", *pair), request)
        if request.verb == "get" and request.name and not who.builtin:
            self._read_burst(who, request)

    def _read_burst(self, who: _Identity, request: Request) -> None:
        key = ("SBX-603", who.user)
        if request.time is None or key in self._bursts:
            return
        threshold, window = self.read_burst
        target = (request.namespace, request.name)
        who.read_window.append((request.time, target, request.line))
        who.read_counts[target] += 1
        while request.time - who.read_window[0][0] > window:
            _, old, _ = who.read_window.popleft()
            who.read_counts[old] -= 1
            if not who.read_counts[old]:
                del who.read_counts[old]
        if len(who.read_counts) >= threshold:
            start = min(line for _, _, line in who.read_window)
            self._bursts[key] = {"line": start, "last": request.line, "count": len(who.read_counts)}
            who.read_window.clear()
            who.read_counts.clear()

    def _denied_burst(self, who: _Identity, request: Request) -> None:
        key = ("SBX-606", who.user)
        if request.time is None or key in self._bursts:
            return
        threshold, window = self.denied_burst
        who.denied_window.append((request.time, request.line))
        while request.time - who.denied_window[0][0] > window:
            who.denied_window.popleft()
        if len(who.denied_window) >= threshold:
            start = min(line for _, line in who.denied_window)
            self._bursts[key] = {
                "line": start,
                "last": request.line,
                "count": len(who.denied_window),
            }
            who.denied_window.clear()

    def hits(self) -> list[Hit]:
        hits = [self._hit(key, line, obj) for key, (line, obj) in self._first.items()]
        hits += [self._burst_hit(key, burst) for key, burst in self._bursts.items()]
        return sorted(hits, key=lambda hit: (hit.location.line, hit.control, hit.message))

    def _hit(self, key: tuple[str, ...], line: int, obj: ObjectRef | None) -> Hit:
        control, where = key[0], Location(self.path, line)
        if control == "SBX-604":
            total = sum(self._body_levels.values())
            levels = "/".join(sorted(self._body_levels))
            message = (
                f"{total} request(s) on Secrets were logged at level {levels}, so this log holds "
                f"Secret data (first at line {line})"
            )
            return Hit(control, message, where, obj, {"requests": total, "levels": levels})
        if control == "SBX-605":
            pair = (key[1], key[2])
            reads = self._impersonated_reads[pair]
            message = f"{key[1]} read Secrets {reads} time(s) while impersonating {key[2]}"
            return Hit(control, message, where, obj, {"user": key[1], "as": key[2], "reads": reads})
        who = self._identities[key[1]]
        if control == "SBX-601":
            counts = ", ".join(f"{verb} {n}" for verb, n in sorted(who.cluster_wide.items()))
            message = f"{who.label} read Secrets across all namespaces ({counts})"
            details = {"user": who.user, **who.cluster_wide}
            return Hit(control, message, where, obj, details)
        counts = ", ".join(f"{verb} {who.verbs[verb]}" for verb in _READ_VERBS if who.verbs[verb])
        scope = ", ".join(sorted(who.namespaces)) or "no single namespace"
        if who.cluster_wide:
            scope += " and all namespaces"
        message = (
            f"{who.label} is not an expected Secret reader and read Secrets ({counts}; "
            f"{len(who.secrets)} distinct by name) in {scope}"
        )
        return Hit(control, message, where, obj, {"user": who.user, "kind": who.kind})

    def _burst_hit(self, key: tuple[str, ...], burst: dict[str, Any]) -> Hit:
        who = self._identities[key[1]]
        threshold, window = self.read_burst if key[0] == "SBX-603" else self.denied_burst
        minutes = int(window.total_seconds() // 60)
        what = "distinct Secrets read" if key[0] == "SBX-603" else "denied requests"
        message = (
            f"{who.label}: {burst['count']} {what} within {minutes} minute(s), lines "
            f"{burst['line']}-{burst['last']} (threshold {threshold})"
        )
        details = {"user": who.user, **burst, "windowSeconds": int(window.total_seconds())}
        return Hit(key[0], message, Location(self.path, burst["line"]), None, details)

    def summary(self) -> dict[str, Any]:
        readers = [
            who
            for _, who in sorted(self._identities.items())
            if who.verbs or who.denied_secret_reads
        ]
        return {
            "file": self.path,
            "lines": self.lines,
            "events": self.events,
            "requests": self.requests,
            "secretReads": {verb: sum(w.verbs[verb] for w in readers) for verb in _READ_VERBS},
            "identities": [
                {
                    "user": who.user,
                    "kind": who.kind,
                    "expected": who.expected,
                    **{verb: who.verbs[verb] for verb in _READ_VERBS},
                    "distinctSecrets": len(who.secrets),
                    "namespaces": sorted(who.namespaces),
                    "clusterWideListWatch": sum(who.cluster_wide.values()),
                    "deniedSecretReads": who.denied_secret_reads,
                    "denied": who.denied,
                }
                for who in readers
            ],
            "clusterWide": [
                {"user": who.user, "expected": who.expected, **who.cluster_wide}
                for who in readers
                if who.cluster_wide
            ],
            "impersonated": [
                {
                    "user": user,
                    "as": target,
                    "requests": count,
                    "secretReads": self._impersonated_reads[(user, target)],
                }
                for (user, target), count in sorted(self._impersonated.items())
            ],
            "secretBodiesLogged": dict(self._body_levels),
            "thresholds": {
                "distinctSecrets": self.read_burst[0],
                "readWindowSeconds": int(self.read_burst[1].total_seconds()),
                "deniedRequests": self.denied_burst[0],
                "deniedWindowSeconds": int(self.denied_burst[1].total_seconds()),
            },
        }
