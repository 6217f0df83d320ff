"""Which key ranges a job walks: named resources (checked), or what a config covers."""

from __future__ import annotations

import pytest

from sealbox.encryption import EncryptionConfiguration, parse_config
from sealbox.errors import InputError
from sealbox.ops import config_prefixes, scan_prefixes
from sealbox.storage import builtin_resources

AESGCM = "aesgcm: {keys: [{name: k, secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}"


def _config(*resource_lists: str) -> EncryptionConfiguration:
    """One aesgcm entry per argument, each a comma-separated ``resources`` list."""
    entries = "".join(
        f"- resources: {[name.strip() for name in names.split(',')]}\n  providers:\n  - {AESGCM}\n"
        for names in resource_lists
    )
    text = (
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
        + entries
    )
    return parse_config(text, "encryption-config.yaml")


def test_scan_prefixes_whole_or_per_resource_in_key_order() -> None:
    assert scan_prefixes("/registry", []) == [b"/registry/"]
    assert scan_prefixes(
        "/custom/prefix/", ["secrets", "services", "widgets.example.com", "secrets"]
    ) == [
        b"/custom/prefix/example.com/widgets/",
        b"/custom/prefix/secrets/",
        b"/custom/prefix/services/specs/",
    ]
    assert scan_prefixes("/registry", ["deployments", "ingresses"]) == [
        b"/registry/deployments/",
        b"/registry/ingress/",
    ]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("secret", "--resource 'secret': no such resource; did you mean secrets?"),
        ("Secret", "--resource 'Secret': no such resource; did you mean secrets?"),
        ("*.*", "--resource '*.*': name one resource"),
        ("*.apps", "--resource '*.apps': name one resource"),
    ],
)
def test_a_misspelt_resource_is_an_error_not_an_empty_walk(name: str, message: str) -> None:
    with pytest.raises(InputError) as caught:
        scan_prefixes("/registry", ["secrets", name])
    assert str(caught.value).startswith(message)


def test_config_prefixes_walk_only_what_the_entries_cover() -> None:
    config = _config("secrets, configmaps", "roles.rbac.authorization.k8s.io")
    assert config_prefixes(config, "/registry") == [
        b"/registry/configmaps/",
        b"/registry/roles/",
        b"/registry/secrets/",
    ]
    assert config_prefixes(config, "/r2") == [
        b"/r2/configmaps/",
        b"/r2/roles/",
        b"/r2/secrets/",
    ]


def test_wildcards_walk_what_they_match() -> None:
    everything = _config("secrets", "*.*")
    assert config_prefixes(everything, "/registry") == [b"/registry/"]
    core = config_prefixes(_config("*."), "/registry")
    assert b"/registry/secrets/" in core
    assert b"/registry/services/specs/" in core  # services, by their historical prefix
    assert b"/registry/minions/" in core  # nodes
    assert b"/registry/deployments/" not in core
    assert len(core) == len(builtin_resources(""))
    apps = config_prefixes(_config("*.apps"), "/registry")
    assert apps == [f"/registry/{name}/".encode() for name in builtin_resources("apps")]
    custom = config_prefixes(_config("*.example.com", "secrets"), "/registry")
    assert custom == [b"/registry/example.com/", b"/registry/secrets/"]


def test_resource_names_narrow_and_must_be_covered() -> None:
    config = _config("secrets", "*.example.com")
    assert config_prefixes(config, "/registry", ["widgets.example.com"]) == [
        b"/registry/example.com/widgets/"
    ]
    with pytest.raises(InputError) as caught:
        config_prefixes(config, "/registry", ["configmaps"])
    assert str(caught.value) == (
        "--resource 'configmaps': encryption-config.yaml has no entry for configmaps, so there "
        "is nothing to rewrap it with; its entries cover secrets, *.example.com"
    )
    with pytest.raises(InputError, match="did you mean secrets"):
        config_prefixes(config, "/registry", ["secret"])


def test_all_resources_widens_on_purpose() -> None:
    config = _config("secrets")
    assert config_prefixes(config, "/registry", all_resources=True) == [b"/registry/"]
    with pytest.raises(InputError, match="--all-resources and --resource exclude each other"):
        config_prefixes(config, "/registry", ["secrets"], all_resources=True)
