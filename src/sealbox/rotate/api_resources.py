"""Which served API resources an EncryptionConfiguration's ``resources`` patterns cover.

A rotation re-encrypts (and verifies) through the API, so the patterns of the rotated entries
(``secrets``, ``configmaps``, ``*.``, ``<group>.*``-style ``*.<group>``, ``*.*``,
``<resource>.<group>``) become the resources the apiserver serves, found by discovery (``/api``,
``/apis`` and each group's preferred version), the way kube-apiserver itself matches them
(kms-spec §1.4). Left out: subresources (``pods/status``), resources without the verbs the job
needs (``tokenreviews`` cannot be listed, ``componentstatuses`` not updated), groups served by an
aggregated apiserver (their objects are not in this etcd), and ``events.k8s.io``, which is stored
as the core ``events`` (a second pass over the same objects).

Requests go through the httpx2 client inside the lightkube ``AsyncClient``: its auth, connection
pool and retrying transport (:mod:`sealbox.kube.retry`) serve these raw paths too.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
from lightkube import AsyncClient

from sealbox.encryption import GroupResource, covers, parse_group_resource
from sealbox.errors import KubeError
from sealbox.kube import kube_errors

__all__ = ["ApiResource", "Discovery", "discover", "failure_reason", "get_json", "http_of"]

_SKIPPED_GROUPS = frozenset({"events.k8s.io"})  # stored as core events: one pass is enough
_JSON = "application/json"


@dataclass(frozen=True, slots=True, order=True)
class ApiResource:
    """One served resource: its group, preferred version, plural name, scope and kind."""

    group: str
    version: str
    resource: str
    namespaced: bool
    kind: str

    @property
    def group_resource(self) -> GroupResource:
        return GroupResource(self.group, self.resource)

    @property
    def name(self) -> str:
        """As a config file names it: ``secrets``, ``deployments.apps``."""
        return str(self.group_resource)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def collection_path(self) -> str:
        """The path listing every object (all namespaces)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        return f"{base}/{self.resource}"

    def object_path(self, namespace: str | None, name: str) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        where = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{base}{where}/{self.resource}/{name}"


@dataclass(frozen=True, slots=True)
class Discovery:
    """The resources the patterns cover, and the patterns that matched no served resource."""

    resources: tuple[ApiResource, ...]
    unserved: tuple[str, ...]


def http_of(client: AsyncClient) -> httpx2.AsyncClient:
    """The httpx2 client inside ``client`` (as :mod:`sealbox.kube.metadata` reaches it)."""
    http: object = client._client._client
    if not isinstance(http, httpx2.AsyncClient):  # pragma: no cover - lightkube changed
        raise TypeError("lightkube.AsyncClient no longer keeps an httpx2.AsyncClient inside")
    return http


async def get_json(
    http: httpx2.AsyncClient,
    path: str,
    *,
    accept: str = _JSON,
    params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``GET path`` decoded; what fails leaves as a typed KubeError."""
    with kube_errors():
        response = await http.get(path, params=params, headers={"Accept": accept})
        response.raise_for_status()
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        raise KubeError(
            f"GET {path}: the answer is not JSON", status=response.status_code
        ) from None
    if not isinstance(body, dict):
        raise KubeError(f"GET {path}: the answer is not a JSON object")
    return body


async def discover(
    client: AsyncClient, patterns: Sequence[str], *, verbs: Collection[str] = ("list", "update")
) -> Discovery:
    """The served resources ``patterns`` cover that allow every verb in ``verbs``, sorted.

    Raises:
        KubeError: discovery itself failed (the apiserver is unreachable or refuses it).
    """
    http = http_of(client)
    wanted = [parse_group_resource(text) for text in patterns]
    every_group = any(gr.group == "*" for gr in wanted)
    versions: list[tuple[str, str]] = []  # (group, preferred version)
    if every_group or any(gr.group == "" for gr in wanted):
        versions.append(("", "v1"))
    named = {gr.group for gr in wanted}
    groups = (await get_json(http, "/apis")).get("groups") or []
    aggregated = await _aggregated(http) if groups else set()
    for group in groups:
        name = str(group.get("name", ""))
        preferred = str((group.get("preferredVersion") or {}).get("version", ""))
        if not preferred or name in _SKIPPED_GROUPS or (name, preferred) in aggregated:
            continue
        if every_group or name in named:
            versions.append((name, preferred))
    found: list[ApiResource] = []
    for group_name, version in versions:
        found.extend(await _resources(http, group_name, version, patterns, set(verbs)))
    unserved = tuple(
        text for text in patterns if not any(covers([text], api.group_resource) for api in found)
    )
    return Discovery(tuple(sorted(set(found))), unserved)


async def _resources(
    http: httpx2.AsyncClient, group: str, version: str, patterns: Sequence[str], verbs: set[str]
) -> list[ApiResource]:
    path = f"/apis/{group}/{version}" if group else f"/api/{version}"
    body = await get_json(http, path)
    found = []
    for entry in body.get("resources") or []:
        name = str(entry.get("name", ""))
        if not name or "/" in name or not verbs <= set(entry.get("verbs") or ()):
            continue
        if covers(patterns, GroupResource(group, name)):
            kind, namespaced = str(entry.get("kind", "")), bool(entry.get("namespaced"))
            found.append(ApiResource(group, version, name, namespaced, kind))
    return found


async def _aggregated(http: httpx2.AsyncClient) -> set[tuple[str, str]]:
    """Group-versions an APIService sends to another server (their objects live elsewhere).

    Unreadable APIServices (RBAC) leave the set empty: such a group then fails on its own.
    """
    try:
        body = await get_json(http, "/apis/apiregistration.k8s.io/v1/apiservices")
    except KubeError:
        return set()
    found = set()
    for item in body.get("items") or []:
        spec = item.get("spec") or {}
        if spec.get("service"):
            found.add((str(spec.get("group", "")), str(spec.get("version", ""))))
    return found


def failure_reason(exc: KubeError) -> str:
    """The HTTP status and reason of a failed request, and nothing else: an apiserver's message
    may quote a field's value, so a rotation's reports never carry it."""
    if exc.status:
        return f"{exc.status} {exc.reason}".strip()
    return f"unreachable ({exc.reason or 'no answer'})"
