"""secret_uses: every way a pod spec reads a Secret, and nothing raised for malformed specs."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sealbox.sync import SecretUse, UseKind, secret_uses

ENV, ENV_FROM, VOLUME, SUB_PATH = UseKind.ENV, UseKind.ENV_FROM, UseKind.VOLUME, UseKind.SUB_PATH


def _env(secret: str, key: str, **extra: Any) -> dict[str, Any]:
    return {"name": "V", "valueFrom": {"secretKeyRef": {"name": secret, "key": key, **extra}}}


def test_env_secret_key_ref_reads_one_key() -> None:
    spec = {"containers": [{"name": "app", "env": [_env("db", "password"), {"name": "X"}]}]}
    assert secret_uses(spec) == [SecretUse("db", "password", ENV, "app")]


def test_env_optional_is_kept() -> None:
    spec = {"containers": [{"name": "app", "env": [_env("db", "password", optional=True)]}]}
    assert secret_uses(spec) == [SecretUse("db", "password", ENV, "app", optional=True)]


def test_env_from_reads_all_keys_with_its_prefix() -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "envFrom": [
                    {"secretRef": {"name": "db"}, "prefix": "DB_"},
                    {"configMapRef": {"name": "settings"}},
                    {"secretRef": {"name": "api", "optional": True}},
                ],
            }
        ]
    }
    assert secret_uses(spec) == [
        SecretUse("db", None, ENV_FROM, "app", prefix="DB_"),
        SecretUse("api", None, ENV_FROM, "app", optional=True),
    ]


def test_init_and_ephemeral_containers_are_read_too() -> None:
    spec = {
        "initContainers": [{"name": "migrate", "env": [_env("db", "url")]}],
        "containers": [{"name": "app"}],
        "ephemeralContainers": [{"name": "debug", "envFrom": [{"secretRef": {"name": "dbg"}}]}],
    }
    assert secret_uses(spec) == [
        SecretUse("db", "url", ENV, "migrate"),
        SecretUse("dbg", None, ENV_FROM, "debug"),
    ]


def test_secret_volume_mounted_whole_reads_all_keys() -> None:
    spec = {
        "containers": [{"name": "app", "volumeMounts": [{"name": "creds", "mountPath": "/c"}]}],
        "volumes": [{"name": "creds", "secret": {"secretName": "db", "optional": True}}],
    }
    assert secret_uses(spec) == [SecretUse("db", None, VOLUME, "app", True, volume="creds")]


def test_secret_volume_items_name_the_keys() -> None:
    items = [{"key": "tls.crt", "path": "cert.pem"}, {"key": "tls.key", "path": "k/key.pem"}]
    spec = {
        "containers": [{"name": "app", "volumeMounts": [{"name": "tls", "mountPath": "/t"}]}],
        "volumes": [{"name": "tls", "secret": {"secretName": "web", "items": items}}],
    }
    assert secret_uses(spec) == [
        SecretUse("web", "tls.crt", VOLUME, "app", volume="tls"),
        SecretUse("web", "tls.key", VOLUME, "app", volume="tls"),
    ]


def test_projected_volume_secret_sources() -> None:
    spec = {
        "containers": [{"name": "app", "volumeMounts": [{"name": "all", "mountPath": "/p"}]}],
        "volumes": [
            {
                "name": "all",
                "projected": {
                    "sources": [
                        {"secret": {"name": "db", "items": [{"key": "pw", "path": "db-pw"}]}},
                        {"configMap": {"name": "settings"}},
                        {"serviceAccountToken": {"path": "token"}},
                        {"secret": {"name": "api", "optional": True}},
                    ]
                },
            }
        ],
    }
    assert secret_uses(spec) == [
        SecretUse("db", "pw", VOLUME, "app", volume="all"),
        SecretUse("api", None, VOLUME, "app", True, volume="all"),
    ]


def test_sub_path_and_plain_mount_of_the_same_volume() -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "volumeMounts": [
                    {"name": "creds", "mountPath": "/c"},
                    {"name": "creds", "mountPath": "/etc/pw", "subPath": "password"},
                ],
            },
            {"name": "side", "volumeMounts": [{"name": "creds", "mountPath": "/c"}]},
        ],
        "volumes": [{"name": "creds", "secret": {"secretName": "db"}}],
    }
    assert secret_uses(spec) == [
        SecretUse("db", None, VOLUME, "app", volume="creds"),
        SecretUse("db", "password", SUB_PATH, "app", volume="creds"),
        SecretUse("db", None, VOLUME, "side", volume="creds"),
    ]


def test_sub_path_through_items_maps_the_path_back_to_keys() -> None:
    items = [
        {"key": "tls.crt", "path": "certs/cert.pem"},
        {"key": "ca.crt", "path": "certs/ca.pem"},
        {"key": "tls.key", "path": "key.pem"},
    ]
    spec = {
        "containers": [
            {
                "name": "app",
                "volumeMounts": [
                    {"name": "tls", "mountPath": "/k", "subPath": "key.pem"},
                    {"name": "tls", "mountPath": "/certs", "subPath": "certs"},
                    {"name": "tls", "mountPath": "/none", "subPath": "absent"},
                ],
            }
        ],
        "volumes": [{"name": "tls", "secret": {"secretName": "web", "items": items}}],
    }
    assert secret_uses(spec) == [
        SecretUse("web", "tls.key", SUB_PATH, "app", volume="tls"),
        SecretUse("web", "tls.crt", SUB_PATH, "app", volume="tls"),
        SecretUse("web", "ca.crt", SUB_PATH, "app", volume="tls"),
    ]


def test_sub_path_expr_with_variables_reads_every_key() -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "volumeMounts": [
                    {"name": "creds", "mountPath": "/c", "subPathExpr": "$(POD_NAME)"},
                    {"name": "creds", "mountPath": "/d", "subPathExpr": "literal"},
                ],
            }
        ],
        "volumes": [{"name": "creds", "secret": {"secretName": "db"}}],
    }
    assert secret_uses(spec) == [
        SecretUse("db", None, SUB_PATH, "app", volume="creds"),
        SecretUse("db", "literal", SUB_PATH, "app", volume="creds"),
    ]


def test_sub_path_of_the_volume_top_reads_what_the_volume_holds() -> None:
    items = [{"key": "a", "path": "x"}]
    spec = {
        "containers": [{"name": "app", "volumeMounts": [{"name": "v", "subPath": "."}]}],
        "volumes": [{"name": "v", "secret": {"secretName": "s", "items": items}}],
    }
    assert secret_uses(spec) == [SecretUse("s", "a", SUB_PATH, "app", volume="v")]


def test_unmounted_secret_volume_is_listed_without_a_container() -> None:
    spec = {
        "containers": [{"name": "app"}],
        "volumes": [
            {"name": "creds", "secret": {"secretName": "db"}},
            {"name": "cfg", "configMap": {"name": "settings"}},
        ],
    }
    assert secret_uses(spec) == [SecretUse("db", None, VOLUME, None, volume="creds")]


def test_other_volume_kinds_and_unknown_mounts_are_not_uses() -> None:
    spec = {
        "containers": [
            {
                "name": "app",
                "volumeMounts": [
                    {"name": "cfg", "mountPath": "/cfg", "subPath": "a"},
                    {"name": "missing", "mountPath": "/m"},
                ],
            }
        ],
        "volumes": [{"name": "cfg", "configMap": {"name": "settings"}}],
    }
    assert secret_uses(spec) == []


def test_repeated_uses_are_listed_once_and_unnamed_containers_get_a_place() -> None:
    spec = {"containers": [{"env": [_env("db", "pw"), _env("db", "pw")]}]}
    assert secret_uses(spec) == [SecretUse("db", "pw", ENV, "containers[0]")]


def test_malformed_shapes_are_no_uses() -> None:
    spec: dict[str, Any] = {
        "containers": [
            "not a container",
            {"name": "a", "env": {"not": "a list"}},
            {"name": "b", "env": [{"valueFrom": {"secretKeyRef": {"name": "db"}}}]},  # no key
            {"name": "c", "env": [{"valueFrom": {"secretKeyRef": {"key": "k"}}}]},  # no name
            {"name": "d", "envFrom": [{"secretRef": None}, {"secretRef": {"name": 3}}]},
            {"name": "e", "volumeMounts": [{"name": "v", "subPath": 5}]},
        ],
        "volumes": [{"name": "v", "secret": {"secretName": "db", "items": "nope"}}],
    }
    assert secret_uses(spec) == [SecretUse("db", None, VOLUME, "e", volume="v")]


_FIELD_NAMES = st.sampled_from(
    [
        "name", "key", "path", "optional", "prefix", "items", "secretName", "secret", "projected",
        "sources", "env", "envFrom", "valueFrom", "secretKeyRef", "secretRef", "volumes",
        "volumeMounts", "subPath", "subPathExpr", "containers", "initContainers",
        "ephemeralContainers", "mountPath",
    ]
)  # fmt: skip
_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_SHAPES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_FIELD_NAMES, inner, max_size=5),
    max_leaves=40,
)


@given(st.dictionaries(_FIELD_NAMES, _SHAPES, max_size=6))
def test_any_pod_spec_shaped_dict_never_raises(spec: dict[str, Any]) -> None:
    uses = secret_uses(spec)
    assert all(isinstance(use.secret, str) and use.secret for use in uses)
    assert all(use.key is None or isinstance(use.key, str) for use in uses)


_FULL: dict[str, Any] = {
    "initContainers": [{"name": "init", "env": [_env("db", "url", optional=False)]}],
    "containers": [
        {
            "name": "app",
            "env": [_env("db", "pw")],
            "envFrom": [{"secretRef": {"name": "api", "optional": True}, "prefix": "API_"}],
            "volumeMounts": [
                {"name": "creds", "mountPath": "/c"},
                {"name": "creds", "mountPath": "/p", "subPath": "pw"},
                {"name": "all", "mountPath": "/a", "subPathExpr": "$(POD)"},
            ],
        }
    ],
    "ephemeralContainers": [{"name": "debug", "envFrom": [{"secretRef": {"name": "dbg"}}]}],
    "volumes": [
        {"name": "creds", "secret": {"secretName": "db", "items": [{"key": "pw", "path": "pw"}]}},
        {"name": "all", "projected": {"sources": [{"secret": {"name": "api"}}]}},
    ],
}


def _paths(node: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _replaced(node: Any, path: tuple[object, ...], value: object) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy: Any = dict(node) if isinstance(node, dict) else list(node)
    copy[head] = _replaced(node[head], rest, value)
    return copy


@given(st.sampled_from(_paths(_FULL)[1:]), _SHAPES)
def test_a_valid_spec_with_any_part_replaced_never_raises(
    path: tuple[object, ...], value: object
) -> None:
    """Every field of a spec that reads every way, replaced by any shape, one at a time."""
    uses = secret_uses(_replaced(_FULL, path, value))
    assert all(isinstance(use.secret, str) and use.secret for use in uses)


def test_the_full_spec_reads_every_way() -> None:
    assert {use.how for use in secret_uses(_FULL)} == set(UseKind)
