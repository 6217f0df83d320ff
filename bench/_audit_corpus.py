"""A synthetic GitOps repository of Kubernetes manifests for the audit benchmark.

:func:`write_corpus` lays out COUNT objects the way a real repository of several teams looks:

* ``apps/<namespace>/<app>/`` per application: the workload (Deployment, StatefulSet, DaemonSet,
  Job, CronJob or bare Pod) with its Service, a ServiceAccount, namespaced RBAC, ConfigMaps,
  plaintext Secrets or SealedSecrets. Files hold several documents (``---``), some apps are one
  rendered ``all.yaml`` like ``helm template`` output, a few files are ``v1/List`` kinds and a
  few are JSON.
* ``namespaces/<namespace>.yaml`` and ``cluster/rbac/`` with ClusterRoles (aggregated ones and
  the labelled roles they collect), ClusterRoleBindings and cluster-wide controllers.

The mix exercises every workload and RBAC control: env ``secretKeyRef`` and ``envFrom``, Secret
volumes with and without ``defaultMode``/``items[].mode`` and ``readOnly``, automounted tokens,
secrets in ``args``, ``get`` with and without ``resourceNames``, ``list``/``watch``, wildcards,
``pods/exec``, ``impersonate``, ``escalate``/``bind``, ``serviceaccounts/token``, grants to
``system:authenticated`` and to default service accounts, plaintext ``data``/``stringData``,
ConfigMaps with and without credential-like content. Every value is fake and generated.

The generator also labels what it planted: :class:`CorpusStats` ``exposures`` lists every true
exposure (a committed credential, a Secret in env or on a command line, a binding whose role
reads Secrets or leads to them) with the objects a finding about it may name, so the benchmark
can count what each tool finds. Bindings whose only risk is ``impersonate`` or
``serviceaccounts/token`` are not labelled: whether those reach a Secret depends on the other
accounts of the namespace, which this generator does not track. Nor is ``escalate``/``bind`` on
roles without the ``update``/``create`` verbs that would use them: alone they grant nothing.

The output depends only on ``count`` and ``seed``.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CATEGORIES", "CorpusStats", "Exposure", "ObjectKey", "write_corpus"]

Obj = dict[str, Any]
ObjectKey = tuple[str, str | None, str]  # kind, namespace (None: cluster-scoped), name

# What each exposure category means; the labels say which objects carry it.
CATEGORIES = {
    "committed-secret": "Secret manifest with values in data/stringData",
    "configmap-credential": "ConfigMap holding a password, DSN or encoded credential",
    "literal-credential": "credential written as a literal env value",
    "secret-env": "Secret passed to a container as env (secretKeyRef, envFrom)",
    "secret-in-args": "Secret value expanded into a container's args",
    "rbac-reader": "binding whose role reads Secrets (get/list/watch without names, wildcards)",
    "rbac-escalation": "binding whose role creates pods or pod controllers, or execs into pods",
}
_READ_VERBS = frozenset({"get", "list", "watch", "*"})
# (resources, verbs) that lead to Secret values without reading them directly.
# ``escalate`` and ``bind`` alone are not: escalate needs update (or create) on the role, bind
# needs create on a binding, and the corpus never grants those next to them.
_ESCALATIONS = (
    ({"pods", "deployments", "*"}, {"create", "patch", "*"}),
    ({"pods/exec"}, {"create", "get", "*"}),
    ({"*"}, {"*"}),
)
# Built-in ClusterRoles the corpus binds: edit and admin read Secrets and create pods.
_BUILTIN_RULES: dict[str, list[Obj]] = {
    "view": [{"apiGroups": [""], "resources": ["configmaps", "pods"], "verbs": ["get", "list"]}],
    "edit": [
        {"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["get", "list", "create"]}
    ],
    "admin": [
        {"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["get", "list", "create"]}
    ],
}

TEAMS = ("payments", "search", "identity", "data", "platform", "web", "mobile", "ml", "ops")
STAGES = ("dev", "staging", "prod")
APP_WORDS = (
    "api", "worker", "gateway", "indexer", "billing", "ledger", "auth", "session", "cache",
    "reporter", "scheduler", "ingest", "notifier", "exporter", "frontend", "backend", "sync",
)  # fmt: skip
IMAGES = ("nginx:1.27", "python:3.12-slim", "golang:1.23", "redis:7.4", "postgres:16")
SECRET_KEYS = ("password", "api-key", "token", "client-secret", "db-password", "private-key")
PLAIN_KEYS = ("username", "host", "port", "database", "region", "log-level")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
WORKLOAD_WEIGHTS = (40, 14, 6, 10, 10, 8)
DumpFn = Callable[[list[Obj]], str]
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC = f"{RBAC_GROUP}/v1"
# (cumulative probability, (apiGroups, resources, verbs)) of the one extra rule a Role gets.
EXTRA_RULES: tuple[tuple[float, tuple[list[str], list[str], list[str]]], ...] = (
    (0.45, ([""], ["secrets"], ["get", "list", "watch"])),
    (0.52, ([""], ["secrets"], ["list"])),
    (0.60, ([""], ["pods"], ["create", "delete"])),
    (0.65, ([""], ["pods/exec"], ["create", "get"])),
    (0.70, (["apps"], ["deployments"], ["create", "patch"])),
    (0.73, ([""], ["serviceaccounts/token"], ["create"])),
    (0.76, (["*"], ["*"], ["*"])),
    (0.78, ([""], ["serviceaccounts"], ["impersonate"])),
    (0.80, (["rbac.authorization.k8s.io"], ["roles"], ["escalate", "bind"])),
)


@dataclass(frozen=True)
class Exposure:
    """One planted exposure: its category, the labelled object (first of ``objects``; the others,
    such as the role of a binding, also count when a tool names them), and that object's file
    and line range, for tools that report lines rather than objects."""

    category: str
    file: str
    lines: tuple[int, int]
    objects: tuple[ObjectKey, ...]


@dataclass
class CorpusStats:
    """What was written: file count, object count (List items counted one by one), per kind,
    and the exposures among the written objects."""

    files: int = 0
    objects: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    exposures: list[Exposure] = field(default_factory=list)


def _key(obj: Obj) -> ObjectKey:
    meta = obj["metadata"]
    return (obj["kind"], meta.get("namespace"), meta["name"])


def rbac_categories(rules: list[Obj]) -> list[str]:
    """The exposure categories a set of rules gives whoever is bound to it."""
    found: list[str] = []
    for rule in rules:
        groups, resources = set(rule["apiGroups"]), set(rule["resources"])
        verbs = set(rule["verbs"])
        core = bool(groups & {"", "*"})
        if (
            core
            and resources & {"secrets", "*"}
            and verbs & _READ_VERBS
            and not rule.get("resourceNames")
        ):
            found.append("rbac-reader")
        for wanted, how in _ESCALATIONS:
            if resources & wanted and verbs & how:
                found.append("rbac-escalation")
    return sorted(set(found))


def workload_categories(pod_spec: Obj) -> list[str]:
    """The exposure categories of one pod spec's containers."""
    found: set[str] = set()
    for container in pod_spec["containers"]:
        env = container.get("env", [])
        if any("secretKeyRef" in e.get("valueFrom", {}) for e in env) or any(
            "secretRef" in e for e in container.get("envFrom", [])
        ):
            found.add("secret-env")
        if any("$(DB_PASSWORD)" in arg for arg in container.get("args", [])):
            found.add("secret-in-args")
        if any(e["name"] == "API_TOKEN" and "value" in e for e in env):
            found.add("literal-credential")
    return sorted(found)


def _fake(rng: random.Random, label: str) -> str:
    return f"fake-{label}-{rng.getrandbits(64):016x}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _rule(groups: list[str], resources: list[str], verbs: list[str], **extra: Any) -> Obj:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


def _meta(name: str, namespace: str | None, **extra: Any) -> Obj:
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def _obj(api: str, kind: str, meta: Obj, **fields: Any) -> Obj:
    return {"apiVersion": api, "kind": kind, "metadata": meta, **fields}


class _Generator:
    """Builds objects; one instance per corpus so all randomness comes from one seeded RNG."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        # id(object) -> the object (kept alive, so its id is not reused) and its labels:
        # (category, other objects that count)
        self.labels: dict[int, tuple[Obj, list[tuple[str, tuple[ObjectKey, ...]]]]] = {}
        self.cluster_rules: dict[str, list[Obj]] = dict(_BUILTIN_RULES)
        self.cluster_parts: dict[str, list[ObjectKey]] = {}
        self.role_rules: dict[tuple[str, str], list[Obj]] = {}

    def label(self, obj: Obj, categories: list[str], *also: ObjectKey) -> None:
        for category in categories:
            self.labels.setdefault(id(obj), (obj, []))[1].append((category, also))

    def label_binding(self, binding: Obj, role_kind: str, role: str) -> None:
        """Label a binding with what its role gives; its role (and aggregated parts) count too."""
        if role_kind == "Role":
            rules = self.role_rules[(binding["metadata"]["namespace"], role)]
            also: list[ObjectKey] = [("Role", binding["metadata"]["namespace"], role)]
        else:
            rules = self.cluster_rules.get(role, [])
            also = [("ClusterRole", None, role), *self.cluster_parts.get(role, [])]
        self.label(binding, rbac_categories(rules), *also)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # --- workloads -------------------------------------------------------------------------

    def container(self, name: str, secrets: list[str], configmaps: list[str]) -> Obj:
        rng = self.rng
        env: list[Obj] = [
            {"name": "LOG_LEVEL", "value": rng.choice(("info", "debug", "warn"))},
            {"name": "PORT", "value": str(rng.choice((8080, 8443, 9000)))},
        ]
        env_from: list[Obj] = []
        args = ["--port=$(PORT)"]
        if secrets and self.chance(0.6):
            secret = rng.choice(secrets)
            key = rng.choice(SECRET_KEYS)
            ref = {"name": secret, "key": key}
            env.append({"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": ref}})
            if self.chance(0.2):
                args.append("--db-password=$(DB_PASSWORD)")
        if secrets and self.chance(0.25):
            env_from.append({"secretRef": {"name": rng.choice(secrets)}})
        if configmaps and self.chance(0.4):
            env_from.append({"configMapRef": {"name": rng.choice(configmaps)}})
        if self.chance(0.05):
            env.append({"name": "API_TOKEN", "value": _fake(rng, "env-token")})
        container: Obj = {
            "name": name,
            "image": rng.choice(IMAGES),
            "args": args,
            "ports": [{"containerPort": 8080, "name": "http"}],
            "env": env,
            "resources": {
                "requests": {"cpu": "100m", "memory": "128Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
        }
        if env_from:
            container["envFrom"] = env_from
        if self.chance(0.5):
            container["securityContext"] = {
                "runAsNonRoot": True,
                "readOnlyRootFilesystem": True,
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
            }
        if self.chance(0.6):
            probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
            container["livenessProbe"] = probe
            container["readinessProbe"] = dict(probe)
        return container

    def secret_volume(self, index: int, secret: str) -> tuple[Obj, Obj]:
        rng = self.rng
        source: Obj = {"secretName": secret}
        style = rng.random()
        if style < 0.35:
            source["defaultMode"] = 0o400
        elif style < 0.5:
            source["defaultMode"] = 0o644
        elif style < 0.65:
            item = {"key": rng.choice(SECRET_KEYS), "path": "credential"}
            source["items"] = [{**item, "mode": rng.choice((256, 420))}]
        volume = {"name": f"secret-{index}", "secret": source}
        mount: Obj = {"name": f"secret-{index}", "mountPath": f"/etc/secrets/{index}"}
        if self.chance(0.6):
            mount["readOnly"] = True
        return volume, mount

    def pod_spec(self, sa: str | None, secrets: list[str], configmaps: list[str]) -> Obj:
        rng = self.rng
        containers = [self.container("app", secrets, configmaps)]
        if self.chance(0.2):
            containers.append(self.container("sidecar", secrets, configmaps))
        volumes: list[Obj] = []
        for index in range(rng.choice((0, 0, 1, 1, 2)) if secrets else 0):
            volume, mount = self.secret_volume(index, rng.choice(secrets))
            volumes.append(volume)
            containers[0].setdefault("volumeMounts", []).append(mount)
        if configmaps and self.chance(0.4):
            volumes.append({"name": "config", "configMap": {"name": rng.choice(configmaps)}})
            mount = {"name": "config", "mountPath": "/etc/config", "readOnly": True}
            containers[0].setdefault("volumeMounts", []).append(mount)
        if self.chance(0.1):
            projected = {"sources": [{"secret": {"name": s}} for s in secrets[:2]]}
            if secrets:
                volumes.append({"name": "projected", "projected": projected})
        spec: Obj = {"containers": containers}
        if sa is not None:
            spec["serviceAccountName"] = sa
        automount = rng.random()
        if automount < 0.4:
            spec["automountServiceAccountToken"] = False
        elif automount < 0.55:
            spec["automountServiceAccountToken"] = True
        if volumes:
            spec["volumes"] = volumes
        if self.chance(0.5):
            spec["securityContext"] = {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001}
        return spec

    def workload(
        self,
        kind: str,
        name: str,
        namespace: str,
        sa: str | None,
        refs: tuple[list[str], list[str]],
    ) -> Obj:
        secrets, configmaps = refs
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": namespace}
        template: Obj = {
            "metadata": {"labels": dict(labels)},
            "spec": self.pod_spec(sa, secrets, configmaps),
        }
        body = self._workload_body(kind, name, namespace, labels, template)
        self.label(body, workload_categories(template["spec"]))
        return body

    def _workload_body(
        self, kind: str, name: str, namespace: str, labels: Obj, template: Obj
    ) -> Obj:
        meta = _meta(name, namespace, labels=labels)
        if kind == "Pod":
            return _obj("v1", "Pod", meta, spec=template["spec"])
        if kind in ("Job", "CronJob"):
            template["spec"]["restartPolicy"] = "OnFailure"
            job: Obj = {"backoffLimit": 3, "template": template}
            if kind == "Job":
                return _obj("batch/v1", "Job", meta, spec=job)
            cron = {"schedule": f"{self.rng.randrange(60)} * * * *", "jobTemplate": {"spec": job}}
            return _obj("batch/v1", "CronJob", meta, spec=cron)
        spec: Obj = {"selector": {"matchLabels": labels}, "template": template}
        if kind != "DaemonSet":
            spec["replicas"] = self.rng.choice((1, 2, 3))
        if kind == "StatefulSet":
            spec["serviceName"] = name
        return _obj("apps/v1", kind, meta, spec=spec)

    def service(self, name: str, namespace: str) -> Obj:
        ports = [{"name": "http", "port": 80, "targetPort": "http"}]
        spec = {"selector": {"app.kubernetes.io/name": name}, "ports": ports}
        return _obj("v1", "Service", _meta(name, namespace), spec=spec)

    # --- secrets and config ----------------------------------------------------------------

    def secret(self, name: str, namespace: str) -> Obj:
        rng = self.rng
        body = _obj("v1", "Secret", _meta(name, namespace))
        style = rng.random()
        if style < 0.1:
            body["type"] = "kubernetes.io/tls"
            body["data"] = {
                "tls.crt": _b64(_fake(rng, "cert")),
                "tls.key": _b64(_fake(rng, "tls-key")),
            }
        elif style < 0.2:
            auth = {"auths": {"registry.example": {"auth": _b64("ci:" + _fake(rng, "pull"))}}}
            body["type"] = "kubernetes.io/dockerconfigjson"
            body["data"] = {".dockerconfigjson": _b64(json.dumps(auth))}
        else:
            body["type"] = "Opaque"
            keys = rng.sample(SECRET_KEYS, rng.randint(1, 3)) + rng.sample(PLAIN_KEYS, 1)
            values = {key: _fake(rng, key) for key in keys}
            if self.chance(0.6):
                body["data"] = {key: _b64(value) for key, value in values.items()}
            else:
                body["stringData"] = values
        self.label(body, ["committed-secret"])
        return body

    def sealed_secret(self, name: str, namespace: str) -> Obj:
        rng = self.rng
        keys = rng.sample(SECRET_KEYS, rng.randint(1, 3))
        encrypted = {key: _b64(rng.randbytes(96).hex()) for key in keys}
        template = {"metadata": _meta(name, namespace), "type": "Opaque"}
        spec = {"encryptedData": encrypted, "template": template}
        return _obj("bitnami.com/v1alpha1", "SealedSecret", _meta(name, namespace), spec=spec)

    def configmap(self, name: str, namespace: str) -> Obj:
        rng = self.rng
        data: Obj = {
            "LOG_LEVEL": rng.choice(("info", "debug")),
            "FEATURE_FLAGS": "search,checkout",
            "app.properties": "server.port=8080\nmanagement.port=9090\n",
        }
        style = rng.random()
        if style < 0.08:
            data["DB_PASSWORD"] = _fake(rng, "cm-password")
        elif style < 0.14:
            data["bootstrap"] = _b64("password=" + _fake(rng, "cm-b64"))
        elif style < 0.2:
            password = _fake(rng, "dsn")
            data["DATABASE_URL"] = f"postgres://app:{password}@db.{namespace}.svc:5432/app"
        elif style < 0.24:
            secret = _fake(rng, "props")
            data["app.properties"] += f"spring.datasource.password={secret}\n"
        body = _obj("v1", "ConfigMap", _meta(name, namespace), data=data)
        self.label(body, ["configmap-credential"] if style < 0.24 else [])
        return body

    # --- RBAC ------------------------------------------------------------------------------

    def rules(self, secrets: list[str]) -> list[Obj]:
        rng = self.rng
        rules: list[Obj] = [_rule([""], ["configmaps"], ["get", "list", "watch"])]
        pick = rng.random()
        if pick < 0.3 and secrets:
            names = rng.sample(secrets, min(len(secrets), rng.randint(1, 2)))
            rules.append(_rule([""], ["secrets"], ["get"], resourceNames=names))
        else:
            for threshold, rule in EXTRA_RULES:
                if pick < threshold:
                    rules.append(_rule(*rule))
                    break
        if self.chance(0.3):
            rules.append(_rule([""], ["pods", "services"], ["get", "list"]))
        return rules

    def subject(self, namespace: str, sa: str) -> Obj:
        style = self.rng.random()
        if style < 0.7:
            return {"kind": "ServiceAccount", "name": sa, "namespace": namespace}
        if style < 0.8:
            return {"kind": "ServiceAccount", "name": "default", "namespace": namespace}
        if style < 0.9:
            user = f"{self.rng.choice(('alice', 'bob', 'carol', 'dave'))}@example.com"
            return {"kind": "User", "apiGroup": RBAC_GROUP, "name": user}
        if style < 0.97:
            group = f"team-{self.rng.choice(TEAMS)}"
            return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": group}
        return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": "system:authenticated"}

    def role_binding(self, name: str, namespace: str, role: str, role_kind: str, sa: str) -> Obj:
        ref = {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role}
        subjects = [self.subject(namespace, sa)]
        body = _obj(RBAC, "RoleBinding", _meta(name, namespace), roleRef=ref, subjects=subjects)
        self.label_binding(body, role_kind, role)
        return body

    def role(self, name: str, namespace: str, secrets: list[str]) -> Obj:
        rules = self.rules(secrets)
        self.role_rules[(namespace, name)] = rules
        return _obj(RBAC, "Role", _meta(name, namespace), rules=rules)

    def service_account(self, name: str, namespace: str) -> Obj:
        body = _obj("v1", "ServiceAccount", _meta(name, namespace))
        if self.chance(0.3):
            body["automountServiceAccountToken"] = False
        return body

    def cluster_role(self, name: str, aggregate_to: str | None, rules: list[Obj]) -> Obj:
        self.cluster_rules[name] = rules
        if aggregate_to is not None:
            collector = f"aggregate-{aggregate_to}"
            self.cluster_rules.setdefault(collector, []).extend(rules)
            self.cluster_parts.setdefault(collector, []).append(("ClusterRole", None, name))
        labels = {"rbac.example.com/aggregate-to-" + aggregate_to: "true"} if aggregate_to else {}
        meta = _meta(name, None, labels=labels) if labels else _meta(name, None)
        return _obj(RBAC, "ClusterRole", meta, rules=rules)

    def aggregated_role(self, name: str, collects: str) -> Obj:
        selector = {"matchLabels": {"rbac.example.com/aggregate-to-" + collects: "true"}}
        rule = {"clusterRoleSelectors": [selector]}
        return _obj(RBAC, "ClusterRole", _meta(name, None), aggregationRule=rule, rules=[])

    def cluster_role_binding(self, name: str, role: str, subject: Obj) -> Obj:
        ref = {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role}
        body = _obj(RBAC, "ClusterRoleBinding", _meta(name, None), roleRef=ref, subjects=[subject])
        self.label_binding(body, "ClusterRole", role)
        return body


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Safe dumper that writes multi-line strings as ``|`` blocks, as people write them."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def _dump_yaml(objects: list[Obj]) -> str:
    return "---\n".join(yaml.dump(o, Dumper=_Dumper, sort_keys=False) for o in objects)


def _dump_list(objects: list[Obj]) -> str:
    return _dump_yaml([{"apiVersion": "v1", "kind": "List", "items": objects}])


def _dump_json(objects: list[Obj]) -> str:
    body = (
        objects[0] if len(objects) == 1 else {"apiVersion": "v1", "kind": "List", "items": objects}
    )
    return json.dumps(body, indent=2) + "\n"


def _line_ranges(text: str, fmt: str, count: int) -> list[tuple[int, int]]:
    """The first and last line of each of ``count`` objects in a file written as ``fmt``."""
    lines = text.splitlines()
    if fmt == "yaml":
        starts = [1] + [n + 2 for n, line in enumerate(lines) if line == "---"]
    elif fmt == "list":
        starts = [n + 1 for n, line in enumerate(lines) if line.startswith("- ")]
    elif count == 1:
        starts = [1]
    else:  # a JSON List: items open at four spaces of indent
        starts = [n + 1 for n, line in enumerate(lines) if line == "    {"]
    ends = [start - 1 for start in starts[1:]] + [len(lines)]
    return list(zip(starts, ends, strict=True))


class _Writer:
    """Writes files and counts objects until the budget is spent (the last file is cut short)."""

    def __init__(self, root: Path, budget: int, gen: _Generator) -> None:
        self.root, self.budget, self.rng, self.gen = root, budget, gen.rng, gen
        self.stats = CorpusStats()

    @property
    def full(self) -> bool:
        return self.stats.objects >= self.budget

    def write(self, relative: str, objects: list[Obj], fmt: str | None = None) -> None:
        objects = objects[: self.budget - self.stats.objects]
        if not objects:
            return
        if fmt is None:
            pick = self.rng.random()
            fmt = "json" if pick < 0.05 else "list" if pick < 0.08 and len(objects) > 1 else "yaml"
        dump: DumpFn = {"yaml": _dump_yaml, "list": _dump_list, "json": _dump_json}[fmt]
        path = self.root / relative
        if fmt == "json":
            path = path.with_suffix(".json")
        path.parent.mkdir(parents=True, exist_ok=True)
        text = dump(objects)
        path.write_text(text)
        self.stats.files += 1
        self.stats.objects += len(objects)
        file = path.relative_to(self.root).as_posix()
        for obj, lines in zip(objects, _line_ranges(text, fmt, len(objects)), strict=True):
            self.stats.kinds[obj["kind"]] = self.stats.kinds.get(obj["kind"], 0) + 1
            _, labels = self.gen.labels.get(id(obj), (obj, []))
            for category, also in labels:
                exposure = Exposure(category, file, lines, (_key(obj), *also))
                self.stats.exposures.append(exposure)


def _app(gen: _Generator, out: _Writer, namespace: str, app: str, cluster_roles: list[str]) -> None:
    rng = gen.rng
    kind = rng.choices(WORKLOADS, WORKLOAD_WEIGHTS)[0]
    secrets: list[str] = []
    plain: list[Obj] = []
    sealed: list[Obj] = []
    for index in range(rng.choice((0, 1, 1, 2, 3))):
        name = f"{app}-{('credentials', 'tls', 'db', 'api')[index % 4]}"
        secrets.append(name)
        if gen.chance(0.35):
            sealed.append(gen.sealed_secret(name, namespace))
        else:
            plain.append(gen.secret(name, namespace))
    configmaps = [f"{app}-config"] + ([f"{app}-env"] if gen.chance(0.4) else [])
    sa_style = rng.random()
    sa = None if sa_style < 0.15 else "default" if sa_style < 0.25 else app
    config = [gen.configmap(name, namespace) for name in configmaps]
    workload = [gen.workload(kind, app, namespace, sa, (secrets, configmaps))]
    if kind in ("Deployment", "StatefulSet") and gen.chance(0.3):
        extra = rng.choice(("Job", "CronJob"))
        task = "migrate" if extra == "Job" else "cleanup"
        workload.append(gen.workload(extra, f"{app}-{task}", namespace, sa, (secrets, configmaps)))
    if kind in ("Deployment", "StatefulSet") or (kind == "DaemonSet" and gen.chance(0.5)):
        workload.append(gen.service(app, namespace))
    rbac: list[Obj] = []
    if sa == app:
        rbac.append(gen.service_account(app, namespace))
    if gen.chance(0.7):
        rbac.append(gen.role(app, namespace, secrets))
        rbac.append(gen.role_binding(app, namespace, app, "Role", sa or "default"))
    if gen.chance(0.15):
        role = rng.choice(cluster_roles)
        rbac.append(
            gen.role_binding(f"{app}-{role}", namespace, role, "ClusterRole", sa or "default")
        )
    base = f"apps/{namespace}/{app}"
    if gen.chance(0.25):
        out.write(f"{base}/all.yaml", [*config, *plain, *sealed, *rbac, *workload], "yaml")
        return
    out.write(f"{base}/{kind.lower()}.yaml", workload)
    if gen.chance(0.5):
        config += plain
        plain = []
    out.write(f"{base}/config.yaml", config)
    if plain:
        out.write(f"{base}/secrets.yaml", plain)
    if sealed:
        out.write(f"{base}/sealed-secrets.yaml", sealed)
    if rbac:
        out.write(f"{base}/rbac.yaml", rbac)


def _cluster_rbac(gen: _Generator, out: _Writer, part: int, namespaces: list[str]) -> list[str]:
    """One file of ClusterRoles (an aggregated role and what it collects) and their bindings."""
    rng = gen.rng
    label = f"view-{part}"
    roles = [gen.aggregated_role(f"aggregate-{label}", label)]
    for index in range(rng.randint(2, 4)):
        roles.append(gen.cluster_role(f"{label}-part-{index}", label, gen.rules([])))
    roles.append(gen.cluster_role(f"controller-{part}", None, gen.rules([])))
    out.write(f"cluster/rbac/clusterroles-{part:03d}.yaml", roles, "yaml")
    bindings: list[Obj] = []
    for role in (f"aggregate-{label}", f"controller-{part}"):
        namespace = rng.choice(namespaces)
        subject = gen.subject(namespace, f"{namespace}-controller")
        bindings.append(gen.cluster_role_binding(f"{role}-binding", role, subject))
    out.write(f"cluster/rbac/clusterrolebindings-{part:03d}.yaml", bindings)
    return [f"aggregate-{label}", f"controller-{part}"]


def write_corpus(root: Path, count: int, seed: int = 5) -> CorpusStats:
    """Write exactly ``count`` objects under ``root`` (created if missing) and describe them."""
    gen = _Generator(seed)
    out = _Writer(root, count, gen)
    namespace_count = max(1, count // 60)
    namespaces = [
        f"{TEAMS[i % len(TEAMS)]}-{STAGES[(i // len(TEAMS)) % len(STAGES)]}-{i // 27}"
        for i in range(namespace_count)
    ]
    cluster_roles = ["view", "edit", "admin"]
    for part in range(max(1, count // 400)):
        cluster_roles += _cluster_rbac(gen, out, part, namespaces)
    for namespace in namespaces:
        body = _obj("v1", "Namespace", _meta(namespace, None))
        out.write(f"namespaces/{namespace}.yaml", [body], "yaml")
    apps_seen: dict[str, int] = {}
    while not out.full:
        namespace = gen.rng.choice(namespaces)
        word = gen.rng.choice(APP_WORDS)
        serial = apps_seen.get(f"{namespace}/{word}", 0)
        apps_seen[f"{namespace}/{word}"] = serial + 1
        _app(gen, out, namespace, f"{word}-{serial}" if serial else word, cluster_roles)
    return out.stats
