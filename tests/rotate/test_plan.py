"""The staged configs of a rotation: every shape, every refusal, and no key value anywhere."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime

import pytest
import yaml

from sealbox.encryption import EncryptionConfiguration, KeyKind, parse_config
from sealbox.errors import ConfigError, InputError
from sealbox.rotate import STAGES, RotationPlan, plan_rotation

NOW = datetime(2026, 12, 2, 11, 37, tzinfo=UTC)
NEW_NAME = "key-20261202t113700"
OLD_CBC = base64.b64encode(b"c" * 32).decode()
OLD_GCM = base64.b64encode(b"g" * 32).decode()
OLD_BOX = base64.b64encode(b"b" * 32).decode()
HEADER = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"


class Keys:
    """A deterministic ``new_key`` that remembers every key it handed out."""

    def __init__(self) -> None:
        self.made: list[str] = []
        self._counter = itertools.count(1)

    def __call__(self, kind: KeyKind) -> str:
        key = base64.b64encode(bytes([next(self._counter)]) * 32).decode()
        self.made.append(key)
        return key


def static(kind: str, *keys: tuple[str, str]) -> str:
    lines = [f"  - {kind}:", "      keys:"]
    for name, secret in keys:
        lines += [f"      - name: {name}", f"        secret: {secret}"]
    return "\n".join(lines) + "\n"


def kms(name: str, endpoint: str = "unix:///run/a.sock", version: str = "v2") -> str:
    return (
        f"  - kms:\n      apiVersion: {version}\n      name: {name}\n      endpoint: {endpoint}\n"
    )


def entry(resources: str, *providers: str) -> str:
    return f"- resources: [{resources}]\n  providers:\n" + "".join(providers)


def config(*entries: str) -> str:
    return HEADER + "resources:\n" + "".join(entries)


IDENTITY = "  - identity: {}\n"
CBC = static("aescbc", ("key1", OLD_CBC))
GCM = static("aesgcm", ("key1", OLD_GCM), ("key0", OLD_BOX))


def plan(text: str, target: str, kms_endpoint: str | None = None) -> tuple[RotationPlan, Keys]:
    keys = Keys()
    result = plan_rotation(
        text, "enc.yaml", target, kms_endpoint=kms_endpoint, now=NOW, new_key=keys
    )
    return result, keys


def staged(result: RotationPlan, name: str) -> EncryptionConfiguration:
    data = result.stage(name).config
    assert data is not None, f"stage {name} writes no file"
    return parse_config(data.decode(), f"{name}.yaml", reload=True)


def labels(parsed: EncryptionConfiguration, index: int) -> list[str]:
    """``aescbc:key1,key0`` / ``kms:b`` / ``identity`` for each provider of an entry."""
    out = []
    for provider in parsed.resources[index].providers:
        if provider.kms is not None:
            out.append(f"kms:{provider.kms.name}")
        elif provider.keys:
            out.append(f"{provider.type}:" + ",".join(key.name for key in provider.keys))
        else:
            out.append(provider.type)
    return out


def assert_no_key_values(result: RotationPlan, keys: Keys) -> None:
    shown = repr(result) + str(result) + " ".join(s.summary for s in result.stages)
    shown += result.old + result.new
    for value in [*keys.made, OLD_CBC, OLD_GCM, OLD_BOX]:
        assert value not in shown
        assert base64.b64decode(value).hex() not in shown


def test_aescbc_to_aesgcm_adds_a_provider_second_then_first_then_drops_the_old() -> None:
    result, keys = plan(config(entry("secrets, configmaps", CBC, IDENTITY)), "aesgcm")
    assert [s.name for s in result.stages] == list(STAGES)
    assert labels(staged(result, "add"), 0) == ["aescbc:key1", f"aesgcm:{NEW_NAME}", "identity"]
    assert labels(staged(result, "promote"), 0) == [
        f"aesgcm:{NEW_NAME}",
        "aescbc:key1",
        "identity",
    ]
    assert labels(staged(result, "remove"), 0) == [f"aesgcm:{NEW_NAME}", "identity"]
    assert result.stage("reencrypt").config is None
    assert result.stage("verify").config is None
    assert (result.old, result.new) == ("aescbc key key1", f"aesgcm key {NEW_NAME}")
    assert result.resources == ("secrets", "configmaps")
    assert result.entries == (0,)
    assert result.target == "aesgcm"
    assert len(keys.made) == 1
    new_key = staged(result, "promote").resources[0].providers[0].keys[0]
    assert new_key.secret == keys.made[0]
    assert len(new_key.material()) == 32
    assert_no_key_values(result, keys)


def test_aesgcm_to_aesgcm_adds_a_key_to_the_same_provider() -> None:
    result, keys = plan(config(entry("secrets", GCM)), "aesgcm")
    assert labels(staged(result, "add"), 0) == [f"aesgcm:key1,{NEW_NAME},key0"]
    assert labels(staged(result, "promote"), 0) == [f"aesgcm:{NEW_NAME},key1,key0"]
    assert labels(staged(result, "remove"), 0) == [f"aesgcm:{NEW_NAME}"]
    assert result.old == "aesgcm keys key1, key0"
    assert "remove aesgcm keys key1, key0" in result.stage("remove").summary
    assert_no_key_values(result, keys)


def test_a_new_key_name_never_collides_with_an_old_one() -> None:
    text = config(entry("secrets", static("aesgcm", (NEW_NAME, OLD_GCM))))
    result, _ = plan(text, "aesgcm")
    assert labels(staged(result, "promote"), 0) == [f"aesgcm:{NEW_NAME}-2,{NEW_NAME}"]


def test_aesgcm_to_secretbox_keeps_the_identity_fallback_and_other_providers() -> None:
    text = config(entry("secrets", GCM, static("aescbc", ("old", OLD_CBC)), IDENTITY))
    result, keys = plan(text, "secretbox")
    assert labels(staged(result, "remove"), 0) == [
        f"secretbox:{NEW_NAME}",
        "aescbc:old",
        "identity",
    ]
    assert labels(staged(result, "promote"), 0)[:2] == [f"secretbox:{NEW_NAME}", "aesgcm:key1,key0"]
    assert_no_key_values(result, keys)


def test_to_a_new_kms_provider_with_its_endpoint() -> None:
    endpoint = "unix:///var/run/kms-b.sock"
    result, keys = plan(config(entry("secrets", CBC)), "kms:b", kms_endpoint=endpoint)
    added = staged(result, "add").resources[0].providers[1].kms
    assert added is not None
    assert (added.name, added.endpoint, added.api_version, added.timeout_seconds) == (
        "b",
        endpoint,
        "v2",
        3.0,
    )
    assert labels(staged(result, "promote"), 0) == ["kms:b", "aescbc:key1"]
    assert labels(staged(result, "remove"), 0) == ["kms:b"]
    assert result.new == "kms v2 provider b"
    assert keys.made == []
    assert_no_key_values(result, keys)


def test_to_a_kms_provider_already_listed_second_reuses_it() -> None:
    text = config(entry("secrets", CBC, kms("b"), IDENTITY))
    result, _ = plan(text, "kms:b")
    assert result.stage("add").config is None
    assert "already listed" in result.stage("add").summary
    assert labels(staged(result, "promote"), 0) == ["kms:b", "aescbc:key1", "identity"]
    assert labels(staged(result, "remove"), 0) == ["kms:b", "identity"]
    same, _ = plan(text, "kms:b", kms_endpoint="unix:///run/a.sock")
    assert same.plan_id == result.plan_id


def test_kms_to_kms_replaces_the_old_kms_provider() -> None:
    result, _ = plan(config(entry("secrets", kms("a"))), "kms:b", kms_endpoint="unix:///b.sock")
    assert labels(staged(result, "remove"), 0) == ["kms:b"]
    assert result.old == "kms v2 provider a"


def test_kms_already_first_is_a_kek_rotation_without_file_changes() -> None:
    result, _ = plan(config(entry("secrets", kms("b"), IDENTITY)), "kms:b")
    assert [s.config for s in result.stages] == [None] * 5
    assert "KEK" in result.stage("add").summary


def test_several_entries_rotate_each_with_its_own_key() -> None:
    text = config(
        entry("secrets", CBC, IDENTITY),
        entry("configmaps", GCM),
        entry("events", IDENTITY),
        entry("'*.*'", static("secretbox", ("box", OLD_BOX))),
    )
    result, keys = plan(text, "aesgcm")
    assert result.entries == (0, 1, 3)
    assert result.resources == ("secrets", "configmaps", "*.*")
    removed = staged(result, "remove")
    assert labels(removed, 0) == [f"aesgcm:{NEW_NAME}", "identity"]
    assert labels(removed, 1) == [f"aesgcm:{NEW_NAME}"]
    assert labels(removed, 2) == ["identity"]
    assert labels(removed, 3) == [f"aesgcm:{NEW_NAME}"]
    assert len(set(keys.made)) == 3
    assert "resources[1]" in result.old
    assert_no_key_values(result, keys)


def test_wildcard_entries_rotate() -> None:
    result, _ = plan(config(entry("secrets", GCM), entry("'*.'", CBC)), "secretbox")
    assert result.resources == ("secrets", "*.")
    assert labels(staged(result, "remove"), 1) == [f"secretbox:{NEW_NAME}"]


def test_the_staged_files_keep_what_is_not_rotated() -> None:
    text = config(entry("secrets", CBC, IDENTITY), entry("configmaps", IDENTITY, GCM))
    result, _ = plan(text, "aesgcm")
    for name in ("add", "promote", "remove"):
        data = result.stage(name).config
        assert data is not None
        document = yaml.safe_load(data)
        assert document["resources"][1] == yaml.safe_load(text)["resources"][1]
        assert document["kind"] == "EncryptionConfiguration"


def test_the_plan_is_deterministic() -> None:
    text = config(entry("secrets", CBC))
    first, _ = plan(text, "aesgcm")
    second, _ = plan(text, "aesgcm")
    assert first == second
    assert first.plan_id == second.plan_id
    assert first.plan_id.startswith("plan-")
    other, _ = plan(text, "secretbox")
    assert other.plan_id != first.plan_id


@pytest.mark.parametrize(
    ("text", "target", "kwargs", "expected"),
    [
        (config(entry("secrets", CBC)), "identity", {}, "--to identity: rotating to identity"),
        (config(entry("secrets", CBC)), "rot13", {}, "--to 'rot13': expected aesgcm, aescbc"),
        (
            config(entry("secrets", IDENTITY, CBC), entry("configmaps", IDENTITY)),
            "aesgcm",
            {},
            "enc.yaml: nothing to rotate",
        ),
        (
            config(entry("secrets", CBC, kms("old", version="v1"))),
            "kms:old",
            {},
            "is KMS v1 (deprecated)",
        ),
        (
            config(entry("secrets", CBC, kms("b"))),
            "kms:b",
            {"kms_endpoint": "unix:///elsewhere.sock"},
            "already names kms provider b at unix:///run/a.sock",
        ),
        (config(entry("secrets", CBC)), "kms:b", {}, "--kms-endpoint is required"),
        (
            config(entry("secrets", CBC)),
            "kms:b",
            {"kms_endpoint": "https://kms.example"},
            "--kms-endpoint 'https://kms.example': unsupported scheme",
        ),
        (
            config(entry("secrets", CBC)),
            "aesgcm",
            {"kms_endpoint": "unix:///x.sock"},
            "--kms-endpoint is only for --to kms:<name>",
        ),
        (
            config(entry("secrets", CBC), entry("configmaps", GCM)),
            "kms:b",
            {"kms_endpoint": "unix:///b.sock"},
            "resources[0], resources[1] would all list b",
        ),
        (
            config(entry("secrets", CBC), entry("configmaps", IDENTITY, kms("b"))),
            "kms:b",
            {},
            "resources[0], resources[1] would all list b",
        ),
    ],
)
def test_refusals_are_one_clear_line(
    text: str, target: str, kwargs: dict[str, str], expected: str
) -> None:
    with pytest.raises(InputError) as caught:
        plan(text, target, kwargs.get("kms_endpoint"))
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    for value in (OLD_CBC, OLD_GCM, OLD_BOX):
        assert value not in message


def test_an_invalid_file_is_a_config_error_naming_the_field() -> None:
    broken = config(entry("secrets", static("aesgcm", ("k", "bm90LWEta2V5"))))
    with pytest.raises(ConfigError) as caught:
        plan(broken, "aesgcm")
    assert "resources[0].providers[0].aesgcm.keys[0].secret" in str(caught.value)
    assert "bm90LWEta2V5" not in str(caught.value)


def test_a_staged_file_the_apiserver_would_refuse_is_never_planned() -> None:
    from sealbox.rotate.plan import _dump

    broken = yaml.safe_load(config(entry("secrets", CBC)))
    broken["resources"][0]["providers"] = []
    with pytest.raises(InputError, match=r"enc.yaml: the file of the add stage would not load: "):
        _dump(broken, "enc.yaml", "add")
