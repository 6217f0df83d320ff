"""Kubernetes API credentials inside a value: service-account JWTs and kubeconfig users.

These are worth more than a generic secret: a service-account token (legacy tokens never expire)
or a kubeconfig's ``users[].user`` credentials let whoever reads the repository call the API
server as that identity. Detection is by shape, on untrusted text, and never raises:

* a **service-account JWT** is three base64url segments whose decoded payload is a JSON object
  with ``iss: kubernetes/serviceaccount`` (legacy Secret-based tokens), a ``kubernetes.io``
  claim (TokenRequest tokens) or a ``system:serviceaccount:`` subject;
* a **kubeconfig** is YAML or JSON with a ``users`` list whose ``user`` mappings carry a literal
  ``token``, ``client-key-data``, ``password`` or an ``auth-provider`` token or client secret;
* an **Argo CD cluster config** (the ``config`` key of a ``secret-type: cluster`` Secret) is a
  JSON object with a literal ``bearerToken`` or ``tlsClientConfig.keyData``.

Labels name the kind, the service-account subject (``system:serviceaccount:ns:name``) and the
kubeconfig user name, which identify without granting anything, and only when they have the
shape of a Kubernetes name; no part of a token or key is ever returned.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping

import yaml

from sealbox.audit.checks._values import ValueKind, classify_value

__all__ = ["kube_credentials", "kubeconfig_labels"]

_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{2,}\.(eyJ[A-Za-z0-9_-]{2,})\.[A-Za-z0-9_-]+")
_MAX_PAYLOAD = 64 * 1024
_MAX_TEXT = 1024 * 1024
_SUBJECT = re.compile(
    r"^system:serviceaccount:[a-z0-9][a-z0-9.-]{0,252}:[a-z0-9][a-z0-9.-]{0,252}$"
)
_DNS_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")
_USER_NAME = re.compile(r"^[A-Za-z0-9@:._/-]{1,128}$")
_USER_FIELDS = ("token", "client-key-data", "password")
_PROVIDER_FIELDS = ("id-token", "refresh-token", "access-token", "client-secret")
_ARGOCD_FIELDS = ("bearerToken",)
_CREDENTIAL_KINDS = (ValueKind.LITERAL, ValueKind.NUMBER)


def kube_credentials(text: str) -> list[str]:
    """Labels for each service-account JWT, kubeconfig user and Argo CD cluster config with
    credentials in ``text``."""
    text = text[:_MAX_TEXT]
    found = [_jwt_label(subject) for subject in _service_account_subjects(text)]
    if "users" in text or "bearerToken" in text or "keyData" in text:
        document = _load(text)
        if isinstance(document, dict):
            found.extend(kubeconfig_labels(document))
            found.extend(_argocd_labels(document))
    return list(dict.fromkeys(found))


def _load(text: str) -> object:
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None


def _jwt_label(subject: str | None) -> str:
    return f"a service-account JWT for {subject}" if subject else "a service-account JWT"


def _service_account_subjects(text: str) -> list[str | None]:
    subjects: list[str | None] = []
    for match in _JWT.finditer(text):
        claims = _payload(match.group(1))
        if claims is None or not _is_service_account(claims):
            continue
        subjects.append(_subject(claims))
    return subjects


def _payload(segment: str) -> Mapping[str, object] | None:
    if len(segment) > _MAX_PAYLOAD:
        return None
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        claims = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError):
        return None
    return claims if isinstance(claims, dict) else None


def _is_service_account(claims: Mapping[str, object]) -> bool:
    subject = claims.get("sub")
    return (
        claims.get("iss") == "kubernetes/serviceaccount"
        or isinstance(claims.get("kubernetes.io"), dict)
        or (isinstance(subject, str) and subject.startswith("system:serviceaccount:"))
    )


def _subject(claims: Mapping[str, object]) -> str | None:
    subject = claims.get("sub")
    if isinstance(subject, str) and _SUBJECT.match(subject):
        return subject
    namespace = claims.get("kubernetes.io/serviceaccount/namespace")
    name = claims.get("kubernetes.io/serviceaccount/service-account.name")
    names = (namespace, name)
    if all(isinstance(part, str) and _DNS_NAME.match(part) for part in names):
        return f"system:serviceaccount:{namespace}:{name}"
    return None


def kubeconfig_labels(document: Mapping[str, object]) -> list[str]:
    users = document.get("users")
    labels: list[str] = []
    for entry in users if isinstance(users, list) else ():
        if not isinstance(entry, dict) or not isinstance(entry.get("user"), dict):
            continue
        fields = _credential_fields(entry["user"])
        if not fields:
            continue
        name = entry.get("name")
        who = f" for user {name!r}" if isinstance(name, str) and _USER_NAME.match(name) else ""
        labels.append(f"kubeconfig credentials ({', '.join(fields)}){who}")
    return labels


def _credential_fields(user: Mapping[str, object]) -> list[str]:
    fields = [f for f in _USER_FIELDS if classify_value(user.get(f)) in _CREDENTIAL_KINDS]
    provider = user.get("auth-provider")
    config = provider.get("config") if isinstance(provider, dict) else None
    if isinstance(config, dict):
        fields.extend(
            f"auth-provider {f}"
            for f in _PROVIDER_FIELDS
            if classify_value(config.get(f)) in _CREDENTIAL_KINDS
        )
    return fields


def _argocd_labels(document: Mapping[str, object]) -> list[str]:
    fields = [f for f in _ARGOCD_FIELDS if classify_value(document.get(f)) in _CREDENTIAL_KINDS]
    tls = document.get("tlsClientConfig")
    if isinstance(tls, dict) and classify_value(tls.get("keyData")) in _CREDENTIAL_KINDS:
        fields.append("tlsClientConfig.keyData")
    return [f"Argo CD cluster credentials ({', '.join(fields)})"] if fields else []
