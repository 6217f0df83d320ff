"""Which workloads read which keys of a Secret, and which of them a changed key must restart.

A pod reads a Secret in four ways, and they differ in whether a new value reaches a running pod:

* ``env`` (``env[].valueFrom.secretKeyRef``) and ``envFrom`` (``envFrom[].secretRef``, every key,
  maybe with a ``prefix``) are copied into the process environment when the container starts;
* ``volume``: a ``secret`` volume, or a ``projected`` volume's ``secret`` source, mounted whole;
  the kubelet rewrites its files when the Secret changes (a live update);
* ``subPath``: the same volume mounted with ``subPath``/``subPathExpr``, which binds one file or
  directory at start and never sees an update.

So only ``env``, ``envFrom`` and ``subPath`` readers need a restart when a value they read
changes, and only workloads whose owner asked for it (annotation
``sealbox.io/restart-on-change: "true"``) are restarted. :class:`ConsumerIndex` keeps the uses of
every Deployment, StatefulSet and DaemonSet, updated one object at a time from a watch.

Everything here reads plain dicts as the apiserver returns them and never raises on a malformed
one: a field of the wrong shape is no use of a Secret (validation is the apiserver's job).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "RESTART_ON_CHANGE",
    "WORKLOAD_KINDS",
    "ConsumerIndex",
    "SecretUse",
    "UseKind",
    "WorkloadRef",
    "secret_uses",
    "stale_pods",
]

RESTART_ON_CHANGE = "sealbox.io/restart-on-change"
"""The workload annotation that opts it in to restarts; only the value ``"true"`` does."""

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
"""The kinds whose pod template a restart patch (as ``kubectl rollout restart``) rolls."""

_CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
_ENDED_PHASES = ("Succeeded", "Failed")  # no process left that holds a stale value


class UseKind(StrEnum):
    """How a container reads a Secret."""

    ENV = "env"
    ENV_FROM = "envFrom"
    VOLUME = "volume"
    SUB_PATH = "subPath"

    @property
    def fixed_at_start(self) -> bool:
        """True when the value is read once at container start (a change needs a restart)."""
        return self is not UseKind.VOLUME


@dataclass(frozen=True, slots=True)
class SecretUse:
    """One way one container reads one Secret.

    ``key`` is None when every key is read (``envFrom``, a volume without ``items``, a
    ``subPathExpr`` that cannot be resolved here). ``container`` is None for a Secret volume that
    no container mounts (the pod still needs the Secret to start). ``volume`` names the pod
    volume for ``volume``/``subPath`` uses; ``prefix`` is ``envFrom``'s.
    """

    secret: str
    key: str | None
    how: UseKind
    container: str | None
    optional: bool = False
    prefix: str = ""
    volume: str | None = None

    def reads(self, keys: Collection[str]) -> bool:
        """True when this use reads any of ``keys``."""
        return bool(keys) if self.key is None else self.key in keys


@dataclass(frozen=True, slots=True, order=True)
class WorkloadRef:
    """A namespaced object by kind and name (a workload, or a Pod in :func:`stale_pods`)."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


_EMPTY: Mapping[str, Any] = {}


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else _EMPTY


def _mappings(value: object) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, Mapping):
                yield index, item


def _name(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _optional(source: Mapping[str, Any]) -> bool:
    return source.get("optional") is True


@dataclass(frozen=True, slots=True)
class _Source:
    """One Secret inside a volume: its keys as (key, file path) pairs, or all keys."""

    secret: str
    items: tuple[tuple[str, str], ...] | None  # None: every key, each at a file named as it
    optional: bool


def _source(body: object, name_field: str) -> _Source | None:
    source = _mapping(body)
    secret = _name(source.get(name_field))
    if secret is None:
        return None
    items: tuple[tuple[str, str], ...] | None = None
    if isinstance(source.get("items"), list):
        listed = []
        for _, item in _mappings(source.get("items")):
            key, path = _name(item.get("key")), _name(item.get("path"))
            if key is not None:
                listed.append((key, path if path is not None else key))
        items = tuple(listed)
    return _Source(secret, items, _optional(source))


def _secret_volumes(pod_spec: Mapping[str, Any]) -> dict[str, list[_Source]]:
    """Volume name -> the Secrets it holds (a ``secret`` volume, ``projected`` sources)."""
    volumes: dict[str, list[_Source]] = {}
    for _, volume in _mappings(pod_spec.get("volumes")):
        name = _name(volume.get("name"))
        if name is None:
            continue
        sources = [_source(volume.get("secret"), "secretName")]
        for _, projected in _mappings(_mapping(volume.get("projected")).get("sources")):
            sources.append(_source(projected.get("secret"), "name"))
        found = [source for source in sources if source is not None]
        if found:
            volumes[name] = found
    return volumes


def _whole(source: _Source) -> Iterator[str | None]:
    """The keys a whole-volume mount of ``source`` reads (None: all of them)."""
    if source.items is None:
        yield None
    else:
        yield from (key for key, _ in source.items)


def _under(source: _Source, sub_path: str | None) -> Iterator[str | None]:
    """The keys a ``subPath`` mount of ``source`` reads (None: cannot tell, so all).

    Without ``items`` each key is a file at the volume's top, so a plain subPath names one key;
    with ``items`` it names an item's path or a directory above some.
    """
    if sub_path is None:
        yield None
        return
    path = sub_path.strip("/")
    if path in ("", "."):  # the volume's top: every file
        yield from _whole(source)
    elif source.items is None:
        if "/" not in path:
            yield path
    else:
        for key, item_path in source.items:
            if item_path == path or item_path.startswith(path + "/"):
                yield key


def _volume_uses(
    container: str, body: Mapping[str, Any], volumes: Mapping[str, list[_Source]]
) -> Iterator[SecretUse]:
    for _, mount in _mappings(body.get("volumeMounts")):
        volume = _name(mount.get("name"))
        if volume is None or volume not in volumes:
            continue
        sub_path, expr = mount.get("subPath"), mount.get("subPathExpr")
        if isinstance(expr, str) and expr:
            how, target = UseKind.SUB_PATH, None if "$(" in expr else expr
        elif isinstance(sub_path, str) and sub_path:
            how, target = UseKind.SUB_PATH, sub_path
        else:
            how, target = UseKind.VOLUME, None
        for source in volumes[volume]:
            keys = _whole(source) if how is UseKind.VOLUME else _under(source, target)
            for key in keys:
                yield SecretUse(source.secret, key, how, container, source.optional, "", volume)


def _container_uses(
    container: str, body: Mapping[str, Any], volumes: Mapping[str, list[_Source]]
) -> Iterator[SecretUse]:
    for _, env in _mappings(body.get("env")):
        ref = _mapping(_mapping(env.get("valueFrom")).get("secretKeyRef"))
        secret, key = _name(ref.get("name")), _name(ref.get("key"))
        if secret is not None and key is not None:
            yield SecretUse(secret, key, UseKind.ENV, container, _optional(ref))
    for _, env_from in _mappings(body.get("envFrom")):
        ref = _mapping(env_from.get("secretRef"))
        secret = _name(ref.get("name"))
        if secret is not None:
            prefix = env_from.get("prefix")
            prefix = prefix if isinstance(prefix, str) else ""
            yield SecretUse(secret, None, UseKind.ENV_FROM, container, _optional(ref), prefix)
    yield from _volume_uses(container, body, volumes)


def secret_uses(pod_spec: Mapping[str, Any]) -> list[SecretUse]:
    """Every way the pod spec's containers (init, regular, ephemeral) read a Secret, in order.

    Secret volumes that no container mounts are listed once with ``container=None``. Repeated
    uses (two env vars from one key) are listed once.
    """
    if not isinstance(pod_spec, Mapping):
        return []
    volumes = _secret_volumes(pod_spec)
    found: dict[SecretUse, None] = {}
    mounted: set[str] = set()
    for field_name in _CONTAINER_FIELDS:
        for index, body in _mappings(pod_spec.get(field_name)):
            container = _name(body.get("name")) or f"{field_name}[{index}]"
            for use in _container_uses(container, body, volumes):
                found[use] = None
                if use.volume is not None:
                    mounted.add(use.volume)
    for volume, sources in volumes.items():
        if volume not in mounted:
            for source in sources:
                for key in _whole(source):
                    use = SecretUse(
                        source.secret, key, UseKind.VOLUME, None, source.optional, "", volume
                    )
                    found[use] = None
    return list(found)


def _pod_template_spec(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    return _mapping(_mapping(_mapping(workload.get("spec")).get("template")).get("spec"))


def _opted_in(workload: Mapping[str, Any]) -> bool:
    annotations = _mapping(_mapping(workload.get("metadata")).get("annotations"))
    return annotations.get(RESTART_ON_CHANGE) == "true"


@dataclass(frozen=True, slots=True)
class _Entry:
    restart_on_change: bool
    uses: tuple[SecretUse, ...]


class ConsumerIndex:
    """The Secret uses of every indexed workload, by namespace and Secret name.

    Fed one object at a time (:meth:`put` for an added or modified workload, :meth:`remove` for
    a deleted one), so a watch keeps it current without relisting. It holds names and keys only,
    never a value.
    """

    def __init__(self) -> None:
        self._entries: dict[WorkloadRef, _Entry] = {}
        self._by_secret: dict[tuple[str, str], set[WorkloadRef]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, ref: object) -> bool:
        return ref in self._entries

    def put(self, workload: Mapping[str, Any], *, kind: str | None = None) -> WorkloadRef | None:
        """Index (or re-index) one workload; None when it is not a kind restarts apply to.

        ``kind`` overrides the object's own ``kind`` (list items may come without one).
        """
        kind = kind if kind is not None else workload.get("kind")
        metadata = _mapping(workload.get("metadata"))
        namespace, name = _name(metadata.get("namespace")), _name(metadata.get("name"))
        if kind not in WORKLOAD_KINDS or namespace is None or name is None:
            return None
        ref = WorkloadRef(str(kind), namespace, name)
        self.remove(ref)
        uses = tuple(secret_uses(_pod_template_spec(workload)))
        self._entries[ref] = _Entry(_opted_in(workload), uses)
        for use in uses:
            self._by_secret.setdefault((namespace, use.secret), set()).add(ref)
        return ref

    def remove(self, ref: WorkloadRef) -> None:
        """Forget a workload (deleted); nothing happens when it is not indexed."""
        entry = self._entries.pop(ref, None)
        if entry is None:
            return
        for use in entry.uses:
            refs = self._by_secret.get((ref.namespace, use.secret))
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del self._by_secret[(ref.namespace, use.secret)]

    def uses(self, ref: WorkloadRef) -> tuple[SecretUse, ...]:
        """The Secret uses of an indexed workload (empty when it is not indexed)."""
        entry = self._entries.get(ref)
        return entry.uses if entry is not None else ()

    def consumers(self, namespace: str, secret: str) -> list[WorkloadRef]:
        """Every indexed workload that reads the Secret in any way, opted in or not."""
        return sorted(self._by_secret.get((namespace, secret), ()))

    def restart_needed(
        self, namespace: str, secret: str, changed_keys: Collection[str]
    ) -> list[WorkloadRef]:
        """The opted-in workloads that read one of ``changed_keys`` at container start.

        Volume readers get the new files from the kubelet and are left alone.
        """
        needed = []
        for ref in self.consumers(namespace, secret):
            entry = self._entries[ref]
            if entry.restart_on_change and _reads_at_start(entry.uses, secret, changed_keys):
                needed.append(ref)
        return needed


def _reads_at_start(uses: Iterable[SecretUse], secret: str, keys: Collection[str] | None) -> bool:
    """True when a use reads ``secret`` (any of ``keys``; None: any key) fixed at start."""
    return any(
        use.secret == secret and use.how.fixed_at_start and (keys is None or use.reads(keys))
        for use in uses
    )


def _started(pod: Mapping[str, Any]) -> datetime | None:
    for value in (
        _mapping(pod.get("status")).get("startTime"),
        _mapping(pod.get("metadata")).get("creationTimestamp"),
    ):
        if isinstance(value, str):
            try:
                started = datetime.fromisoformat(value)
            except ValueError:
                continue
            return started if started.tzinfo is not None else None
    return None


def stale_pods(
    namespace: str,
    secret: str,
    value_changed_at: datetime,
    pods: Iterable[Mapping[str, Any]],
    *,
    keys: Collection[str] | None = None,
) -> list[WorkloadRef]:
    """Pods in ``namespace`` started before the Secret's current value that still hold the old.

    A pod holds the old value when it reads ``secret`` (any of ``keys``; None: any key) through
    ``env``, ``envFrom`` or ``subPath`` and started (``status.startTime``, else
    ``metadata.creationTimestamp``) before ``value_changed_at`` (timezone-aware). Pods that have
    ended, or whose start time is unknown, are not counted.
    """
    if value_changed_at.tzinfo is None:
        raise ValueError("value_changed_at must be timezone-aware")
    stale = []
    for pod in pods:
        if not isinstance(pod, Mapping):
            continue
        metadata = _mapping(pod.get("metadata"))
        name = _name(metadata.get("name"))
        if name is None or metadata.get("namespace") != namespace:
            continue
        if _mapping(pod.get("status")).get("phase") in _ENDED_PHASES:
            continue
        started = _started(pod)
        if started is None or started >= value_changed_at:
            continue
        if _reads_at_start(secret_uses(_mapping(pod.get("spec"))), secret, keys):
            stale.append(WorkloadRef("Pod", namespace, name))
    return sorted(stale)
