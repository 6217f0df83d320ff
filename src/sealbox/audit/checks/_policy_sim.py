"""Simulate an audit Policy over the requests that matter for Secrets.

The grid: verbs get/list/watch/create/update/patch/delete, times the targets below, times
representative identities (a user, a service account, a node, a ``system:masters`` admin, the
anonymous user), times namespaces (``kube-system``, ``default``; ``""`` for cluster-scoped targets
and for list/watch across all namespaces), times names (``""`` for list, watch and plain create;
otherwise a sample name plus the ``resourceNames`` values the policy mentions, up to 16, so that
name-scoped rules are exercised too). Each request gets its :class:`Outcome` from
:func:`~sealbox.audit.checks._policy_model.effective_level`.

Which stages a request produces decides what ``omitStages`` takes away: every request has
``RequestReceived`` (before authorization: no decision, no response code) and
``ResponseComplete``; long-running ones (watch, exec, attach, port-forward, proxy) also
``ResponseStarted``. ``Panic`` replaces ``ResponseComplete`` only for a request that crashed the
handler, so it is not part of the normal record.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product

from sealbox.audit.checks._policy_model import Policy, RequestAttributes, effective_level

__all__ = [
    "IDENTITIES",
    "READ_VERBS",
    "TARGETS",
    "VERBS",
    "WRITE_VERBS",
    "Identity",
    "Outcome",
    "Target",
    "kept_stages",
    "simulate",
]

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")
READ_VERBS = frozenset({"get", "list", "watch"})
WRITE_VERBS = frozenset({"create", "update", "patch"})
_NAMESPACES = ("kube-system", "default")
_SAMPLE_NAME = "sample"
_MAX_NAMES = 16  # resourceNames values tried per request, besides the sample name
_LONG_RUNNING_SUBRESOURCES = frozenset({"exec", "attach", "portforward", "proxy"})


@dataclass(frozen=True, slots=True)
class Target:
    """A resource (or subresource) of the grid; ``namespaced`` is False for cluster-scoped ones."""

    group: str
    resource: str
    subresource: str = ""
    namespaced: bool = True

    def __str__(self) -> str:
        name = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{name}.{self.group}" if self.group else name


@dataclass(frozen=True, slots=True)
class Identity:
    """A representative requester: how messages name it, and the user and groups it sends."""

    label: str
    user: str
    groups: tuple[str, ...]

    def request(self, target: Target, verb: str, *, namespace: str, name: str) -> RequestAttributes:
        """This identity doing ``verb`` on ``target``."""
        return RequestAttributes(
            user=self.user,
            groups=self.groups,
            verb=verb,
            group=target.group,
            resource=target.resource,
            subresource=target.subresource,
            namespace=namespace,
            name=name,
        )


IDENTITIES = (
    Identity("user alice", "alice", ("system:authenticated",)),
    Identity(
        "service account default/app",
        "system:serviceaccount:default:app",
        ("system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"),
    ),
    Identity("node node-1", "system:node:node-1", ("system:nodes", "system:authenticated")),
    Identity(
        "admin kubernetes-admin (system:masters)",
        "kubernetes-admin",
        ("system:masters", "system:authenticated"),
    ),
    Identity("anonymous system:anonymous", "system:anonymous", ("system:unauthenticated",)),
)

SECRETS = Target("", "secrets")
CONFIGMAPS = Target("", "configmaps")
TOKENREVIEWS = Target("authentication.k8s.io", "tokenreviews", namespaced=False)
SA_TOKEN = Target("", "serviceaccounts", "token")
PODS_EXEC = Target("", "pods", "exec")
PODS_PORTFORWARD = Target("", "pods", "portforward")
PODS_PROXY = Target("", "pods", "proxy")
SERVICES_PROXY = Target("", "services", "proxy")
NODES_PROXY = Target("", "nodes", "proxy", namespaced=False)
TARGETS = (
    SECRETS,
    CONFIGMAPS,
    TOKENREVIEWS,
    SA_TOKEN,
    PODS_EXEC,
    PODS_PORTFORWARD,
    PODS_PROXY,
    SERVICES_PROXY,
    NODES_PROXY,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the policy makes of one request of the grid, and which rule decided (None: none)."""

    identity: Identity
    target: Target
    request: RequestAttributes
    level: str
    omit: frozenset[str]
    rule: int | None

    @property
    def long_running(self) -> bool:
        subresource = self.target.subresource
        return self.request.verb == "watch" or subresource in _LONG_RUNNING_SUBRESOURCES


def kept_stages(long_running: bool, omit: frozenset[str]) -> frozenset[str]:
    """The stages a normal request of this kind still writes to the log."""
    stages = {"RequestReceived", "ResponseComplete"}
    if long_running:
        stages.add("ResponseStarted")
    return frozenset(stages - omit)


def _names(policy: Policy, target: Target, verb: str) -> tuple[str, ...]:
    if verb in ("list", "watch") or (verb == "create" and not target.subresource):
        return ("",)
    found: set[str] = set()
    for rule in policy.rules:
        for gr in rule.resources:
            if gr.group == target.group:
                found.update(gr.resource_names)
    return (_SAMPLE_NAME, *sorted(found - {_SAMPLE_NAME})[:_MAX_NAMES])


def _namespaces(target: Target, verb: str) -> tuple[str, ...]:
    if not target.namespaced:
        return ("",)
    return (*_NAMESPACES, "") if verb in ("list", "watch") else _NAMESPACES


def simulate(policy: Policy) -> Iterator[Outcome]:
    """Every request of the grid with its level, omitted stages and deciding rule."""
    for target, verb in product(TARGETS, VERBS):
        places = product(_namespaces(target, verb), _names(policy, target, verb), IDENTITIES)
        for namespace, name, identity in places:
            request = identity.request(target, verb, namespace=namespace, name=name)
            level, omit, rule = effective_level(policy, request)
            yield Outcome(identity, target, request, level=level, omit=omit, rule=rule)
