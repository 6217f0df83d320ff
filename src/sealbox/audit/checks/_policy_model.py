"""The ``audit.k8s.io/v1`` Policy: decoding as kube-apiserver does, and its first-match checker.

Decoding follows ``LoadPolicyFromBytes``: only ``audit.k8s.io/v1`` ``Policy`` is accepted; a
value of the wrong JSON type (a number where a string belongs, a mapping where a list belongs)
fails decoding; unknown fields make the strict decoder fail, after which the apiserver falls back
to lenient decoding and *ignores* them (reported here as ``rejected=False`` issues, since a
mistyped ``namespace:`` silently widens a rule). Then ``ValidatePolicy``: each rule needs a valid
level, valid ``omitStages``, DNS-subdomain groups, ``resourceNames`` only with ``resources``,
non-resource URLs starting with ``/`` with ``*`` only at the end and not mixed with resources or
namespaces; and at least one rule. The policy-wide ``omitStages`` is not validated upstream.

:func:`effective_level` is a faithful port of the apiserver's ``policyChecker``, applied to the
:class:`RequestAttributes` of one request: rules in order,
the first that matches decides; an empty list matches everything; ``resources: ["*"]`` matches
subresources too, ``*/scale`` any resource's ``scale`` and ``pods/*`` pods and all their
subresources; ``resourceNames`` is compared with the request's name (``""`` for list and create);
omitted stages are the union of the policy's and the rule's; no match means level ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sealbox.yamldoc import YamlList, line_at

__all__ = [
    "LEVELS",
    "STAGES",
    "GroupResources",
    "Policy",
    "PolicyIssue",
    "PolicyRule",
    "RequestAttributes",
    "decode_policy",
    "effective_level",
]

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
_API_VERSION = "audit.k8s.io/v1"
_POLICY_FIELDS = ("apiVersion", "kind", "metadata", "rules", "omitStages", "omitManagedFields")
_RULE_FIELDS = (
    "level",
    "users",
    "userGroups",
    "verbs",
    "resources",
    "namespaces",
    "nonResourceURLs",
    "omitStages",
    "omitManagedFields",
)
_GR_FIELDS = ("group", "resources", "resourceNames")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SHOWABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,40}")
_MAX_ITEMS = 10_000  # YAML aliases can multiply a small file; real policies hold far fewer


@dataclass(frozen=True, slots=True)
class GroupResources:
    group: str
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One rule; ``index`` is its position in ``rules`` and ``line`` where it starts."""

    index: int
    level: str
    line: int = 0
    users: tuple[str, ...] = ()
    user_groups: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ()
    resources: tuple[GroupResources, ...] = ()
    namespaces: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    omit_stages: tuple[str, ...] = ()

    @property
    def catch_all(self) -> bool:
        """True when the rule has no filter at all, so it matches every request."""
        filters = (self.users, self.user_groups, self.verbs, self.resources, self.namespaces)
        return not any(filters) and not self.non_resource_urls

    @property
    def label(self) -> str:
        return f"rules[{self.index}] (level {self.level}, line {self.line})"


@dataclass(frozen=True, slots=True)
class Policy:
    rules: tuple[PolicyRule, ...]
    omit_stages: tuple[str, ...] = ()
    line: int = 1
    rules_line: int = 1
    omit_stages_line: int = 1
    omit_stage_lines: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """A problem with a field: ``rejected`` stops the apiserver; otherwise the field is ignored."""

    path: str
    message: str
    line: int
    rejected: bool = True


class RequestAttributes(NamedTuple):
    """One request as the policy checker sees it (the apiserver's ``authorizer.Attributes``).

    ``namespace`` is ``""`` for cluster-scoped requests and for lists across all namespaces;
    ``name`` is ``""`` for requests that carry none (list, watch, create). A tuple, since the
    simulator makes one for every request of its grid.
    """

    user: str
    groups: tuple[str, ...]
    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


class _TooLarge(Exception):
    """More items than :data:`_MAX_ITEMS` (e.g. through YAML aliases)."""


class _Decoder:
    def __init__(self, document: object) -> None:
        self.document = document
        self.issues: list[PolicyIssue] = []
        self.items = 0

    def issue(self, path: str, message: str, *, rejected: bool = True) -> None:
        self.issues.append(PolicyIssue(path, message, line_at(self.document, path), rejected))

    def count(self) -> None:
        self.items += 1
        if self.items > _MAX_ITEMS:
            raise _TooLarge

    def fields(self, value: object, path: str, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.issue(path, f"expected a mapping, got {_type_name(value)}")
            return None
        known: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key in allowed:
                known[key] = item
                continue
            text = str(key)
            showable = bool(_SHOWABLE.fullmatch(text))
            label = text if showable else "(name not shown)"
            where = (f"{path}.{text}" if path else text) if showable else path
            self.issue(
                where,
                f"unknown field {label} is ignored by kube-apiserver (valid: {', '.join(allowed)})",
                rejected=False,
            )
        return known

    def string(self, value: object, path: str) -> str | None:
        self.count()
        if value is None:
            return ""
        if not isinstance(value, str):
            self.issue(path, f"expected a string, got {_type_name(value)}")
            return None
        return value

    def list_field(self, value: object, path: str, expected: str) -> list[Any] | None:
        """A list field's items: none when it is absent, None (an issue) when it is no list."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.issue(path, f"expected {expected}, got {_type_name(value)}")
            return None
        return value

    def strings(self, value: object, path: str) -> tuple[str, ...]:
        items = self.list_field(value, path, "a list of strings") or []
        out = (self.string(item, f"{path}[{i}]") for i, item in enumerate(items))
        return tuple(item for item in out if item is not None)

    def boolean(self, value: object, path: str) -> None:
        if value is not None and not isinstance(value, bool):
            self.issue(path, f"expected true or false, got {_type_name(value)}")

    def policy(self) -> Policy | None:
        top = self.fields(self.document, "", _POLICY_FIELDS)
        if top is None:
            return None
        kind, api_version = top.get("kind"), top.get("apiVersion")
        if kind != "Policy":
            self.issue("kind", "kind must be Policy")
        if api_version != _API_VERSION:
            self.issue("apiVersion", f"apiVersion must be {_API_VERSION}")
        if top.get("metadata") is not None and not isinstance(top.get("metadata"), dict):
            self.issue("metadata", "expected a mapping")
        self.boolean(top.get("omitManagedFields"), "omitManagedFields")
        omit = self.strings(top.get("omitStages"), "omitStages")
        raw_rules = self.list_field(top.get("rules"), "rules", "a list of rules")
        if raw_rules is not None and not raw_rules:
            self.issue("rules", "a policy needs at least one rule (loaded illegal policy with 0)")
        rules: list[PolicyRule] = []
        lines = raw_rules.lines if isinstance(raw_rules, YamlList) else [0] * len(raw_rules or [])
        for i, raw in enumerate(raw_rules or []):
            rule = self.rule(raw, i, lines[i])
            if rule is not None:
                rules.append(rule)
        if any(issue.rejected for issue in self.issues):
            return None
        return Policy(
            tuple(rules),
            omit,
            line=getattr(self.document, "line", 1) or 1,
            rules_line=line_at(self.document, "rules") or 1,
            omit_stages_line=line_at(self.document, "omitStages") or 1,
            omit_stage_lines=tuple(
                line_at(self.document, f"omitStages[{i}]") or 1 for i in range(len(omit))
            ),
        )

    def rule(self, raw: object, index: int, line: int) -> PolicyRule | None:
        path = f"rules[{index}]"
        fields = self.fields(raw, path, _RULE_FIELDS)
        if fields is None:
            return None
        level = self.string(fields.get("level"), f"{path}.level")
        if level == "":
            self.issue(f"{path}.level", "level is required")
        elif level is not None and level not in LEVELS:
            self.issue(f"{path}.level", f"unsupported level; valid: {', '.join(LEVELS)}")
        self.boolean(fields.get("omitManagedFields"), f"{path}.omitManagedFields")
        omit = self.strings(fields.get("omitStages"), f"{path}.omitStages")
        for i, stage in enumerate(omit):
            if stage not in STAGES:
                self.issue(f"{path}.omitStages[{i}]", f"allowed stages are {','.join(STAGES)}")
        urls = self.strings(fields.get("nonResourceURLs"), f"{path}.nonResourceURLs")
        self.check_urls(urls, f"{path}.nonResourceURLs")
        resources = self.group_resources(fields.get("resources"), f"{path}.resources")
        namespaces = self.strings(fields.get("namespaces"), f"{path}.namespaces")
        if urls and (resources or namespaces):
            self.issue(
                f"{path}.nonResourceURLs",
                "rules cannot apply to both regular resources and non-resource URLs",
            )
        return PolicyRule(
            index=index,
            level=level or "",
            line=line or getattr(raw, "line", 0),
            users=self.strings(fields.get("users"), f"{path}.users"),
            user_groups=self.strings(fields.get("userGroups"), f"{path}.userGroups"),
            verbs=self.strings(fields.get("verbs"), f"{path}.verbs"),
            resources=resources,
            namespaces=namespaces,
            non_resource_urls=urls,
            omit_stages=omit,
        )

    def check_urls(self, urls: Sequence[str], path: str) -> None:
        for i, url in enumerate(urls):
            if url == "*":
                continue
            if not url.startswith("/"):
                self.issue(f"{path}[{i}]", "non-resource URL rules must begin with a '/' character")
            if url and "*" in url[:-1]:
                message = "non-resource URL wildcards '*' must be the final character of the rule"
                self.issue(f"{path}[{i}]", message)

    def group_resources(self, value: object, path: str) -> tuple[GroupResources, ...]:
        out: list[GroupResources] = []
        for i, raw in enumerate(self.list_field(value, path, "a list") or []):
            here = f"{path}[{i}]"
            fields = self.fields(raw, here, _GR_FIELDS)
            if fields is None:
                continue
            group = self.string(fields.get("group"), f"{here}.group") or ""
            if group and (len(group) > 253 or not _DNS_SUBDOMAIN.fullmatch(group)):
                self.issue(f"{here}.group", "group must be a lower-case DNS subdomain")
            names = self.strings(fields.get("resources"), f"{here}.resources")
            resource_names = self.strings(fields.get("resourceNames"), f"{here}.resourceNames")
            if resource_names and not names:
                message = "using resourceNames requires at least one resource"
                self.issue(f"{here}.resourceNames", message)
            out.append(GroupResources(group, names, resource_names))
        return tuple(out)


def _type_name(value: object) -> str:
    names: tuple[tuple[type, str], ...] = (
        (bool, "a boolean"),
        (int, "a number"),
        (float, "a number"),
        (str, "a string"),
        (dict, "a mapping"),
        (list, "a list"),
    )
    for kind, name in names:
        if isinstance(value, kind):
            return name
    return "null" if value is None else f"a YAML {type(value).__name__}"


def decode_policy(document: object) -> tuple[Policy | None, list[PolicyIssue]]:
    """The policy (None when kube-apiserver would reject it) and every issue found."""
    decoder = _Decoder(document)
    try:
        policy = decoder.policy()
    except _TooLarge:
        message = f"more than {_MAX_ITEMS} values (YAML aliases?); not evaluated"
        return None, [*decoder.issues, PolicyIssue("", message, 1)]
    return policy, decoder.issues


def _rule_matches(rule: PolicyRule, request: RequestAttributes) -> bool:
    if rule.users and request.user not in rule.users:
        return False
    if rule.user_groups and not any(group in rule.user_groups for group in request.groups):
        return False
    if rule.verbs and request.verb not in rule.verbs:
        return False
    if rule.namespaces or rule.resources:
        return _resource_matches(rule, request)
    # A rule with only nonResourceURLs never matches a resource request.
    return not rule.non_resource_urls


def _resource_matches(rule: PolicyRule, request: RequestAttributes) -> bool:
    if rule.namespaces and request.namespace not in rule.namespaces:
        return False  # cluster-scoped and all-namespace requests have namespace ""
    if not rule.resources:
        return True
    resource, subresource = request.resource, request.subresource
    combined = f"{resource}/{subresource}" if subresource else resource
    for gr in rule.resources:
        if gr.group != request.group:
            continue
        if not gr.resources:
            return True
        if gr.resource_names and request.name not in gr.resource_names:
            continue
        for res in gr.resources:
            if res in (combined, "*"):
                return True
            if subresource and res.startswith("*/") and subresource == res[2:]:
                return True
            if res.endswith("/*") and resource == res[:-2]:
                return True
    return False


def effective_level(
    policy: Policy, request: RequestAttributes
) -> tuple[str, frozenset[str], int | None]:
    """Level, omitted stages and deciding rule index (None: no rule, default None) of a request."""
    for rule in policy.rules:
        if _rule_matches(rule, request):
            return rule.level, frozenset(policy.omit_stages) | set(rule.omit_stages), rule.index
    return "None", frozenset(policy.omit_stages), None
