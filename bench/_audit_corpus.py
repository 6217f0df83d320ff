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

__all__ = ["CorpusStats", "write_corpus"]

Obj = dict[str, Any]

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


@dataclass
class CorpusStats:
    """What was written: file count, object count (List items counted one by one), per kind."""

    files: int = 0
    objects: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


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
        return _obj("v1", "ConfigMap", _meta(name, namespace), data=data)

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
        return _obj(RBAC, "RoleBinding", _meta(name, namespace), roleRef=ref, subjects=subjects)

    def service_account(self, name: str, namespace: str) -> Obj:
        body = _obj("v1", "ServiceAccount", _meta(name, namespace))
        if self.chance(0.3):
            body["automountServiceAccountToken"] = False
        return body

    def cluster_role(self, name: str, aggregate_to: str | None, rules: list[Obj]) -> Obj:
        labels = {"rbac.example.com/aggregate-to-" + aggregate_to: "true"} if aggregate_to else {}
        meta = _meta(name, None, labels=labels) if labels else _meta(name, None)
        return _obj(RBAC, "ClusterRole", meta, rules=rules)

    def aggregated_role(self, name: str, collects: str) -> Obj:
        selector = {"matchLabels": {"rbac.example.com/aggregate-to-" + collects: "true"}}
        rule = {"clusterRoleSelectors": [selector]}
        return _obj(RBAC, "ClusterRole", _meta(name, None), aggregationRule=rule, rules=[])

    def cluster_role_binding(self, name: str, role: str, subject: Obj) -> Obj:
        ref = {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role}
        return _obj(RBAC, "ClusterRoleBinding", _meta(name, None), roleRef=ref, subjects=[subject])


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


class _Writer:
    """Writes files and counts objects until the budget is spent (the last file is cut short)."""

    def __init__(self, root: Path, budget: int, rng: random.Random) -> None:
        self.root, self.budget, self.rng = root, budget, rng
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
        path.write_text(dump(objects))
        self.stats.files += 1
        self.stats.objects += len(objects)
        for obj in objects:
            self.stats.kinds[obj["kind"]] = self.stats.kinds.get(obj["kind"], 0) + 1


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
        rbac.append(_obj(RBAC, "Role", _meta(app, namespace), rules=gen.rules(secrets)))
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
    out = _Writer(root, count, gen.rng)
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
