"""SecretStore and ClusterSecretStore specs: providers, auth methods, conditions, errors by path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from sealbox.sync import (
    AwsProvider,
    KubernetesProvider,
    LabelSelector,
    NamespaceCondition,
    SecretKeySelector,
    ServiceAccountSelector,
    StoreKind,
    SyncSpecError,
    VaultAppRole,
    VaultKubernetesAuth,
    VaultProvider,
    parse_store,
    store_allows,
)

TOKEN = {"tokenSecretRef": {"name": "bao-token", "key": "token"}}


def _store(provider: dict[str, Any], kind: str = "SecretStore", **spec: Any) -> dict[str, Any]:
    metadata = (
        {"name": "bao"} if kind == "ClusterSecretStore" else {"name": "bao", "namespace": "shop"}
    )
    return {
        "apiVersion": "external-secrets.io/v1",
        "kind": kind,
        "metadata": metadata,
        "spec": {"provider": provider, **spec},
    }


def _issues(obj: Any) -> list[str]:
    with pytest.raises(SyncSpecError) as caught:
        parse_store(obj)
    return [str(issue) for issue in caught.value.issues]


def test_vault_with_a_token() -> None:
    raw = {
        "server": "https://bao:8200",
        "path": "secret",
        "version": "v1",
        "namespace": "team-a",
        "caBundle": "LS0tLS1CRUdJTg==",
        "auth": TOKEN,
    }
    store = parse_store(_store({"vault": raw}, refreshInterval="10m"))
    assert store.kind is StoreKind.SECRET_STORE
    assert store.provider_name == "vault"
    assert dict(store.provider_spec) == raw
    assert store.refresh_interval == timedelta(minutes=10)
    assert store.provider == VaultProvider(
        server="https://bao:8200",
        path="secret",
        version="v1",
        namespace="team-a",
        ca_bundle="LS0tLS1CRUdJTg==",
        token_secret_ref=SecretKeySelector("bao-token", "token"),
    )


def test_vault_defaults_v2() -> None:
    store = parse_store(_store({"vault": {"server": "http://127.0.0.1:8200", "auth": TOKEN}}))
    assert isinstance(store.provider, VaultProvider)
    assert (store.provider.version, store.provider.path) == ("v2", None)
    assert store.refresh_interval is None  # the controller's default


def test_vault_app_role() -> None:
    auth = {
        "appRole": {
            "path": "approle-ci",
            "roleId": "db-reader",
            "secretRef": {"name": "approle", "key": "secret-id", "namespace": "ops"},
        }
    }
    store = parse_store(_store({"vault": {"server": "https://bao", "auth": auth}}))
    assert isinstance(store.provider, VaultProvider)
    assert store.provider.app_role == VaultAppRole(
        "approle-ci", "db-reader", SecretKeySelector("approle", "secret-id", "ops")
    )


def test_vault_kubernetes_auth_with_a_service_account() -> None:
    auth = {
        "kubernetes": {
            "mountPath": "k8s",
            "role": "shop",
            "serviceAccountRef": {"name": "shop", "audiences": ["vault"]},
        }
    }
    store = parse_store(
        _store({"vault": {"server": "https://bao", "auth": auth}}, "ClusterSecretStore")
    )
    assert store.kind is StoreKind.CLUSTER_SECRET_STORE
    assert isinstance(store.provider, VaultProvider)
    assert store.provider.kubernetes == VaultKubernetesAuth(
        "k8s", "shop", ServiceAccountSelector("shop", None, ("vault",))
    )


def test_vault_kubernetes_auth_with_a_token_secret_and_default_mount() -> None:
    auth = {"kubernetes": {"role": "shop", "secretRef": {"name": "jwt", "key": "token"}}}
    store = parse_store(_store({"vault": {"server": "https://bao", "auth": auth}}))
    assert isinstance(store.provider, VaultProvider)
    assert store.provider.kubernetes == VaultKubernetesAuth(
        "kubernetes", "shop", secret_ref=SecretKeySelector("jwt", "token")
    )


def test_aws_secrets_manager() -> None:
    raw = {
        "service": "SecretsManager",
        "region": "eu-west-1",
        "prefix": "team-a/",
        "endpointURL": "http://127.0.0.1:5000",
        "auth": {
            "secretRef": {
                "accessKeyIDSecretRef": {"name": "aws", "key": "id"},
                "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
                "sessionTokenSecretRef": {"name": "aws", "key": "session"},
            }
        },
    }
    store = parse_store(_store({"aws": raw}, refreshInterval=300))
    assert store.refresh_interval == timedelta(minutes=5)  # a store's interval may be seconds
    assert store.provider == AwsProvider(
        region="eu-west-1",
        access_key_id=SecretKeySelector("aws", "id"),
        secret_access_key=SecretKeySelector("aws", "secret"),
        session_token=SecretKeySelector("aws", "session"),
        prefix="team-a/",
        endpoint_url="http://127.0.0.1:5000",
    )


def test_aws_without_auth_uses_the_controllers_credentials() -> None:
    store = parse_store(_store({"aws": {"service": "SecretsManager", "region": "us-east-1"}}))
    assert store.provider == AwsProvider(region="us-east-1")


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            {"token": {"bearerToken": {"name": "remote", "key": "token"}}},
            KubernetesProvider(token=SecretKeySelector("remote", "token")),
        ),
        (
            {"serviceAccount": {"name": "reader", "namespace": "ops"}},
            KubernetesProvider(service_account=ServiceAccountSelector("reader", "ops")),
        ),
        (
            {
                "cert": {
                    "clientCert": {"name": "tls", "key": "tls.crt"},
                    "clientKey": {"name": "tls", "key": "tls.key"},
                }
            },
            KubernetesProvider(
                client_cert=SecretKeySelector("tls", "tls.crt"),
                client_key=SecretKeySelector("tls", "tls.key"),
            ),
        ),
    ],
)
def test_kubernetes_auth_methods(auth: dict[str, Any], expected: KubernetesProvider) -> None:
    store = parse_store(_store({"kubernetes": {"auth": auth}}))
    assert store.provider == expected


def test_kubernetes_every_field() -> None:
    raw = {
        "remoteNamespace": "vault-mirror",
        "server": {"url": "https://remote:6443", "caBundle": "LS0t"},
        "authRef": {"name": "remote-kubeconfig", "key": "config"},
    }
    store = parse_store(_store({"kubernetes": raw}))
    assert store.provider == KubernetesProvider(
        remote_namespace="vault-mirror",
        server_url="https://remote:6443",
        ca_bundle="LS0t",
        auth_ref=SecretKeySelector("remote-kubeconfig", "config"),
    )


def test_cluster_store_conditions() -> None:
    conditions = [
        {"namespaceSelector": {"matchLabels": {"team": "a"}}},
        {"namespaces": ["shop", "billing"]},
        {
            "namespaceRegexes": ["^ci-"],
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["dev", "test"]},
                    {"key": "frozen", "operator": "DoesNotExist"},
                ]
            },
        },
    ]
    store = parse_store(
        _store(
            {"vault": {"server": "https://b", "auth": TOKEN}},
            "ClusterSecretStore",
            conditions=conditions,
        )
    )
    assert store.conditions == (
        NamespaceCondition(namespace_selector=LabelSelector({"team": "a"})),
        NamespaceCondition(namespaces=("shop", "billing")),
        NamespaceCondition(
            namespace_selector=LabelSelector(
                match_expressions=(("env", "In", ("dev", "test")), ("frozen", "DoesNotExist", ()))
            ),
            namespace_regexes=("^ci-",),
        ),
    )


STORE_ERRORS: list[tuple[str, dict[str, Any], str]] = [
    (
        "no provider",
        {"spec": {}},
        "spec.provider: required (one of aws, kubernetes, vault)",
    ),
    (
        "two providers",
        {"spec": {"provider": {"vault": {}, "aws": {}}}},
        "spec.provider: needs exactly one of aws, kubernetes, vault",
    ),
    (
        "unknown provider",
        {"spec": {"provider": {"gcpsm": {"projectID": "p"}}}},
        "spec.provider.gcpsm: unknown provider (Sealbox syncs from aws, kubernetes, vault)",
    ),
    (
        "provider null",
        {"spec": {"provider": {"vault": None}}},
        "spec.provider.vault: must be a mapping, not null",
    ),
    (
        "vault server",
        {"spec": {"provider": {"vault": {"auth": TOKEN}}}},
        "spec.provider.vault.server: required",
    ),
    (
        "vault version",
        {"spec": {"provider": {"vault": {"server": "s", "version": "v3", "auth": TOKEN}}}},
        "spec.provider.vault.version: must be v1 or v2",
    ),
    (
        "vault auth missing",
        {"spec": {"provider": {"vault": {"server": "s"}}}},
        "spec.provider.vault.auth: required (tokenSecretRef, appRole or kubernetes)",
    ),
    (
        "vault auth empty",
        {"spec": {"provider": {"vault": {"server": "s", "auth": {}}}}},
        "spec.provider.vault.auth: needs exactly one of tokenSecretRef, appRole, kubernetes",
    ),
    (
        "vault two auths",
        {
            "spec": {
                "provider": {
                    "vault": {
                        "server": "s",
                        "auth": {
                            **TOKEN,
                            "kubernetes": {"role": "r", "secretRef": {"name": "j", "key": "t"}},
                        },
                    }
                }
            }
        },
        "spec.provider.vault.auth: needs exactly one of tokenSecretRef, appRole, kubernetes "
        "(found 2)",
    ),
    (
        "vault ldap",
        {"spec": {"provider": {"vault": {"server": "s", "auth": {**TOKEN, "ldap": {}}}}}},
        "spec.provider.vault.auth.ldap: not supported (supported here: appRole, kubernetes, "
        "tokenSecretRef)",
    ),
    (
        "vault token key",
        {
            "spec": {
                "provider": {"vault": {"server": "s", "auth": {"tokenSecretRef": {"name": "t"}}}}
            }
        },
        "spec.provider.vault.auth.tokenSecretRef.key: required",
    ),
    (
        "approle roleId",
        {
            "spec": {
                "provider": {
                    "vault": {
                        "server": "s",
                        "auth": {"appRole": {"secretRef": {"name": "a", "key": "b"}}},
                    }
                }
            }
        },
        "spec.provider.vault.auth.appRole.roleId: required",
    ),
    (
        "approle secretRef",
        {"spec": {"provider": {"vault": {"server": "s", "auth": {"appRole": {"roleId": "r"}}}}}},
        "spec.provider.vault.auth.appRole.secretRef: required "
        "(the Secret key holding the secret_id)",
    ),
    (
        "kubernetes auth role",
        {
            "spec": {
                "provider": {
                    "vault": {
                        "server": "s",
                        "auth": {"kubernetes": {"serviceAccountRef": {"name": "sa"}}},
                    }
                }
            }
        },
        "spec.provider.vault.auth.kubernetes.role: required",
    ),
    (
        "kubernetes auth no account",
        {"spec": {"provider": {"vault": {"server": "s", "auth": {"kubernetes": {"role": "r"}}}}}},
        "spec.provider.vault.auth.kubernetes: needs exactly one of serviceAccountRef, secretRef",
    ),
    (
        "aws service",
        {"spec": {"provider": {"aws": {"service": "ParameterStore", "region": "r"}}}},
        "spec.provider.aws.service: only SecretsManager is supported by Sealbox",
    ),
    (
        "aws region",
        {"spec": {"provider": {"aws": {"service": "SecretsManager"}}}},
        "spec.provider.aws.region: required",
    ),
    (
        "aws role",
        {
            "spec": {
                "provider": {"aws": {"service": "SecretsManager", "region": "r", "role": "arn"}}
            }
        },
        "spec.provider.aws.role: not supported (supported here: auth, endpointURL, prefix, region, "
        "service)",
    ),
    (
        "aws secret key",
        {
            "spec": {
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": "r",
                        "auth": {"secretRef": {"accessKeyIDSecretRef": {"name": "a", "key": "i"}}},
                    }
                }
            }
        },
        "spec.provider.aws.auth.secretRef.secretAccessKeySecretRef: required",
    ),
    (
        "aws endpoint",
        {
            "spec": {
                "provider": {
                    "aws": {"service": "SecretsManager", "region": "r", "endpointURL": "moto:5000"}
                }
            }
        },
        "spec.provider.aws.endpointURL: must be an http(s) URL such as https://host:443",
    ),
    (
        "kubernetes no auth",
        {"spec": {"provider": {"kubernetes": {"remoteNamespace": "x"}}}},
        "spec.provider.kubernetes: needs exactly one of auth, authRef",
    ),
    (
        "kubernetes two methods",
        {
            "spec": {
                "provider": {
                    "kubernetes": {
                        "auth": {
                            "serviceAccount": {"name": "a"},
                            "token": {"bearerToken": {"name": "t", "key": "k"}},
                        }
                    }
                }
            }
        },
        "spec.provider.kubernetes.auth: needs exactly one of token, serviceAccount, cert (found 2)",
    ),
    (
        "kubernetes cert key",
        {
            "spec": {
                "provider": {
                    "kubernetes": {"auth": {"cert": {"clientCert": {"name": "c", "key": "k"}}}}
                }
            }
        },
        "spec.provider.kubernetes.auth.cert.clientKey: required",
    ),
    (
        "store interval",
        {
            "spec": {
                "provider": {"aws": {"service": "SecretsManager", "region": "r"}},
                "refreshInterval": "soon",
            }
        },
        'spec.refreshInterval: must be a Go duration such as "1h", "15m", "1h30m" or "0", '
        "not 'soon'",
    ),
    (
        "conditions on a namespaced store",
        {
            "spec": {
                "provider": {"aws": {"service": "SecretsManager", "region": "r"}},
                "conditions": [],
            }
        },
        "spec.conditions: not supported (supported here: controller, provider, refreshInterval)",
    ),
    (
        "retry settings",
        {
            "spec": {
                "provider": {"aws": {"service": "SecretsManager", "region": "r"}},
                "retrySettings": {},
            }
        },
        "spec.retrySettings: not supported (supported here: controller, provider, refreshInterval)",
    ),
]


@pytest.mark.parametrize(
    ("obj", "message"), [case[1:] for case in STORE_ERRORS], ids=[case[0] for case in STORE_ERRORS]
)
def test_each_store_error_names_its_field(obj: dict[str, Any], message: str) -> None:
    obj = {"kind": "SecretStore", "metadata": {"name": "s", "namespace": "n"}, **obj}
    assert _issues(obj) == [message]


CLUSTER_ERRORS = [
    (
        {"namespaceRegexes": ["("]},
        "spec.conditions[0].namespaceRegexes[0]: not a valid regular expression "
        "(missing ), unterminated subpattern at position 0)",
    ),
    (
        {"namespaceSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
        "spec.conditions[0].namespaceSelector.matchExpressions[0].values: required (non-empty) "
        "with operator In",
    ),
    (
        {
            "namespaceSelector": {
                "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
            }
        },
        "spec.conditions[0].namespaceSelector.matchExpressions[0].values: must be empty with "
        "operator Exists",
    ),
    (
        {
            "namespaceSelector": {
                "matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]
            }
        },
        "spec.conditions[0].namespaceSelector.matchExpressions[0].operator: must be one of In, "
        "NotIn, Exists, DoesNotExist, not 'Gt'",
    ),
    (
        {"namespaces": "shop"},
        "spec.conditions[0].namespaces: must be a list of strings, not a string",
    ),
    (
        {"names": ["shop"]},
        "spec.conditions[0].names: not supported (supported here: namespaceRegexes, "
        "namespaceSelector, namespaces)",
    ),
]


@pytest.mark.parametrize(("condition", "message"), CLUSTER_ERRORS)
def test_each_condition_error_names_its_field(condition: dict[str, Any], message: str) -> None:
    obj = _store(
        {"aws": {"service": "SecretsManager", "region": "r"}},
        "ClusterSecretStore",
        conditions=[condition],
    )
    assert _issues(obj) == [message]


def test_store_errors_name_the_store() -> None:
    with pytest.raises(
        SyncSpecError, match=r"^SecretStore shop/bao: spec\.provider\.vault\.server: required$"
    ):
        parse_store(_store({"vault": {"auth": TOKEN}}))
    with pytest.raises(SyncSpecError, match=r"^ClusterSecretStore bao: spec\.provider: "):
        parse_store(_store({}, "ClusterSecretStore"))


TEAM_A = NamespaceCondition(namespace_selector=LabelSelector({"team": "a"}))
NAMED = NamespaceCondition(namespaces=("shop",))
REGEX = NamespaceCondition(namespace_regexes=("ci-[0-9]+",))
EXPRESSIONS = NamespaceCondition(
    namespace_selector=LabelSelector(
        match_expressions=(
            ("env", "In", ("dev", "test")),
            ("tier", "NotIn", ("prod",)),
            ("owner", "Exists", ()),
            ("frozen", "DoesNotExist", ()),
        )
    )
)


@pytest.mark.parametrize(
    ("conditions", "namespace", "labels", "allowed"),
    [
        ((), "anything", {}, True),  # no conditions: every namespace
        ((TEAM_A,), "x", {"team": "a"}, True),
        ((TEAM_A,), "x", {"team": "b"}, False),
        ((TEAM_A,), "x", {}, False),
        ((NAMED,), "shop", {}, True),
        ((NAMED,), "shop-2", {}, False),
        ((REGEX,), "ci-42", {}, True),
        ((REGEX,), "my-ci-42-x", {}, True),  # Go's MatchString: not anchored
        ((REGEX,), "ci-x", {}, False),
        ((TEAM_A, NAMED), "shop", {"team": "b"}, True),  # any condition admits
        ((NamespaceCondition(),), "shop", {}, False),  # an empty condition admits none
        ((NamespaceCondition(namespace_selector=LabelSelector()),), "shop", {}, True),  # {} = all
        ((EXPRESSIONS,), "x", {"env": "dev", "owner": "me"}, True),
        ((EXPRESSIONS,), "x", {"env": "prod", "owner": "me"}, False),  # In
        ((EXPRESSIONS,), "x", {"owner": "me"}, False),  # In needs the label
        ((EXPRESSIONS,), "x", {"env": "dev", "owner": "me", "tier": "prod"}, False),  # NotIn
        ((EXPRESSIONS,), "x", {"env": "dev", "owner": "me", "tier": "web"}, True),
        ((EXPRESSIONS,), "x", {"env": "dev"}, False),  # Exists
        ((EXPRESSIONS,), "x", {"env": "dev", "owner": "me", "frozen": ""}, False),  # DoesNotExist
    ],
)
def test_store_allows(
    conditions: tuple[NamespaceCondition, ...],
    namespace: str,
    labels: dict[str, str],
    allowed: bool,
) -> None:
    assert store_allows(conditions, namespace, labels) is allowed
