"""Parsing, strict decoding, defaults and the apiserver rules V1-V23 of EncryptionConfiguration."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from sealbox.encryption.config import (
    lint_file,
    load_config,
    parse_config,
)
from sealbox.errors import ConfigError, ConfigIssue
from tests.encryption.configs import DROP, assert_issue, doc, entry, keys, kms, lint, secret
from tests.vectors import recorded_path

RECORDED = recorded_path("kube-apiserver-1.36", "encryption-config.yaml")
GOOD = entry(kms())


def rule(
    rule_id: str, valid: str, invalid: str, path: str, phrase: str, *, reload: bool = False
) -> Any:
    return pytest.param(valid, invalid, path, phrase, reload, id=rule_id)


RULES = [
    rule("V1-empty", doc(GOOD), doc(), "resources", "at least one resources is required"),
    rule(
        "V1-missing",
        doc(GOOD),
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n",
        "resources",
        "at least one resources is required",
    ),
    rule(
        "V2-resources",
        doc(GOOD),
        doc(entry(kms(), resources=())),
        "resources[0].resources",
        "at least one resources[0].resources is required",
    ),
    rule(
        "V2-providers",
        doc(GOOD),
        doc(entry()),
        "resources[0].providers",
        "at least one resources[0].providers is required",
    ),
    rule(
        "V3-none",
        doc(entry({"identity": {}})),
        doc(entry({})),
        "resources[0].providers[0]",
        "provider does not contain any of the expected providers: KMS, AESGCM",
    ),
    rule(
        "V3-null-identity",
        doc(entry({"identity": {}})),
        doc(entry({"identity": None})),
        "resources[0].providers[0]",
        "identity: {}",
    ),
    rule(
        "V3-two",
        doc(entry(kms(), {"identity": {}})),
        doc(entry({**kms(), "identity": {}})),
        "resources[0].providers[0]",
        "more than one provider specified in a single element",
    ),
    rule(
        "V4-aesgcm",
        doc(entry(keys("aesgcm", secret(16), secret(24), secret(32)))),
        doc(entry(keys("aesgcm", secret(32), secret(20)))),
        "resources[0].providers[0].aesgcm.keys[1].secret",
        "secret is not of the expected length, got 20, expected one of [16 24 32]",
    ),
    rule(
        "V4-aescbc",
        doc(entry(keys("aescbc", secret(16), secret(24), secret(32)))),
        doc(entry(kms(), keys("aescbc", secret(33)))),
        "resources[0].providers[1].aescbc.keys[0].secret",
        "got 33, expected one of [16 24 32]",
    ),
    rule(
        "V5-secretbox",
        doc(entry(keys("secretbox", secret(32)))),
        doc(entry(keys("secretbox", secret(16)))),
        "resources[0].providers[0].secretbox.keys[0].secret",
        "got 16, expected one of [32]",
    ),
    rule(
        "V6-name",
        doc(entry(keys("aesgcm", secret(32)))),
        doc(entry({"aesgcm": {"keys": [{"secret": secret(32)}]}})),
        "resources[0].providers[0].aesgcm.keys[0].name",
        "name is a mandatory field for a key",
    ),
    rule(
        "V6-secret",
        doc(entry(keys("aesgcm", secret(32)))),
        doc(entry({"aesgcm": {"keys": [{"name": "k"}]}})),
        "resources[0].providers[0].aesgcm.keys[0].secret",
        "secret is a mandatory field for a key",
    ),
    rule(
        "V6-base64",
        doc(entry(keys("secretbox", secret(32)))),
        doc(entry(keys("secretbox", "not*base64*at*all"))),
        "resources[0].providers[0].secretbox.keys[0].secret",
        "secrets must be base64 encoded",
    ),
    rule(
        "V6-no-keys",
        doc(entry(keys("aescbc", secret(32)))),
        doc(entry({"aescbc": {"keys": []}})),
        "resources[0].providers[0].aescbc.keys",
        "at least one keys is required",
    ),
    rule(
        "V7-capitals",
        doc(entry(kms(), resources=["secrets"])),
        doc(entry(kms(), resources=["Secrets"])),
        "resources[0].resources[0]",
        "resource name should not contain capital letters",
    ),
    rule(
        "V8-bare-star",
        doc(entry(kms(), resources=["*."])),
        doc(entry(kms(), resources=["*"])),
        "resources[0].resources[0]",
        "use '*.' to encrypt all the resources from core API group",
    ),
    *(
        rule(
            f"V9-{name}",
            doc(entry(kms(), resources=["services"])),
            doc(entry(kms(), resources=["secrets", name])),
            "resources[0].resources[1]",
            "resources which do not have REST API/s cannot be encrypted",
        )
        for name in ("apiserveripinfo", "serviceipallocations", "servicenodeportallocations")
    ),
    rule(
        "V10-events-group",
        doc(entry(kms(), resources=["events"])),
        doc(entry(kms(), resources=["*.events.k8s.io"])),
        "resources[0].resources[0]",
        "Use 'events' instead in the config file",
    ),
    rule(
        "V11-extensions",
        doc(entry(kms(), resources=["deployments.apps"])),
        doc(entry(kms(), resources=["deployments.extensions"])),
        "resources[0].resources[0]",
        "'extensions' group has been removed",
    ),
    rule(
        "V12-resource-any-group",
        doc(entry(kms(), resources=["*.*"])),
        doc(entry(kms(), resources=["secrets.*"])),
        "resources[0].resources[0]",
        "encrypting the same resource across groups is not supported",
    ),
    rule(
        "V13-duplicate",
        doc(entry(kms(), resources=["secrets", "configmaps"])),
        doc(entry(kms(), resources=["secrets", "configmaps", "secrets"])),
        "resources[0].resources",
        "the same resource cannot be specified multiple times",
    ),
    rule(
        "V14-core-wildcard",
        doc(entry(kms(), resources=["secrets", "*.apps"])),
        doc(entry(kms(), resources=["secrets", "*."])),
        "resources[0].resources",
        "using overlapping resources such as 'secrets' and '*.' in the same resource list",
    ),
    rule(
        "V14-star-star",
        doc(entry(kms(), resources=["*.*"])),
        doc(entry(kms(), resources=["configmaps", "*.*"])),
        "resources[0].resources",
        "is not allowed as they will be masked",
    ),
    rule(
        "V14-group-wildcard",
        doc(entry(kms(), resources=["*.apps", "jobs.batch"])),
        doc(entry(kms(), resources=["deployments.apps", "*.apps"])),
        "resources[0].resources",
        "overlapping resources",
    ),
    rule(
        "V15-core-wildcard",
        doc(entry(kms(), resources=["secrets"]), entry({"identity": {}}, resources=["*."])),
        doc(entry({"identity": {}}, resources=["*."]), entry(kms(), resources=["secrets"])),
        "resources[1].resources[0]",
        'resource "secrets" is masked by earlier rule "*."',
    ),
    rule(
        "V15-star-star",
        doc(entry(kms(), resources=["*.apps"]), entry({"identity": {}}, resources=["*.*"])),
        doc(entry({"identity": {}}, resources=["*.*"]), entry(kms(), resources=["*.apps"])),
        "resources[1].resources[0]",
        'resource "*.apps" is masked by earlier rule "*.*"',
    ),
    rule(
        "V15-same-wildcard-twice",
        doc(entry(kms(), resources=["*.apps"]), entry({"identity": {}}, resources=["*."])),
        doc(entry(kms(), resources=["*.apps"]), entry({"identity": {}}, resources=["*.apps"])),
        "resources[1].resources[0]",
        'masked by earlier rule "*.apps"',
    ),
    rule(
        "V16-kms-name",
        doc(entry(kms(name="a"))),
        doc(entry(kms(name=DROP))),
        "resources[0].providers[0].kms.name",
        "name is a mandatory field for a provider",
    ),
    rule(
        "V17-colon-v2",
        doc(entry(kms(name="ok-name"))),
        doc(entry(kms(name="bad:name"))),
        "resources[0].providers[0].kms.name",
        "invalid KMS provider name bad:name, must not contain ':'",
    ),
    rule(
        "V18-v2-across-entries",
        doc(entry(kms(name="a")), entry(kms(name="b"), resources=["configmaps"])),
        doc(entry(kms(name="a")), entry(kms(name="a"), resources=["configmaps"])),
        "resources[1].providers[0].kms.name",
        "duplicate KMS provider name a, names must be unique",
    ),
    rule(
        "V18-v1-then-v2",
        doc(entry(kms(name="a"), kms(name="b", apiVersion="v1"))),
        doc(entry(kms(name="a", apiVersion="v1"), kms(name="a"))),
        "resources[0].providers[1].kms.name",
        "duplicate KMS provider name a",
    ),
    rule(
        "V18-v1-with-reload",
        doc(entry(kms(name="a", apiVersion="v1"), kms(name="b", apiVersion="v1"))),
        doc(entry(kms(name="a", apiVersion="v1"), kms(name="a", apiVersion="v1"))),
        "resources[0].providers[1].kms.name",
        "duplicate KMS provider name a",
        reload=True,
    ),
    rule(
        "V19-zero",
        doc(entry(kms(timeout="500ms"))),
        doc(entry(kms(timeout="0s"))),
        "resources[0].providers[0].kms.timeout",
        "timeout should be a positive value",
    ),
    rule(
        "V19-negative",
        doc(entry(kms(timeout="1m30s"))),
        doc(entry(kms(timeout="-1s"))),
        "resources[0].providers[0].kms.timeout",
        "timeout should be a positive value",
    ),
    rule(
        "V20-missing",
        doc(entry(kms(endpoint="unix:///var/run/kms.sock"))),
        doc(entry(kms(endpoint=DROP))),
        "resources[0].providers[0].kms.endpoint",
        "endpoint is a mandatory field for a kms",
    ),
    rule(
        "V20-scheme",
        doc(entry(kms(endpoint="UNIX:///var/run/kms.sock"))),
        doc(entry(kms(endpoint="tcp://127.0.0.1:9000"))),
        "resources[0].providers[0].kms.endpoint",
        'unsupported scheme "tcp" for KMS provider, only unix is supported',
    ),
    rule(
        "V20-no-scheme",
        doc(entry(kms(endpoint="unix:///@abstract"))),
        doc(entry(kms(endpoint="/var/run/kms.sock"))),
        "resources[0].providers[0].kms.endpoint",
        'unsupported scheme "" for KMS provider',
    ),
    rule(
        "V20-unparsable",
        doc(entry(kms(endpoint="unix:///run/a%20b.sock"))),
        doc(entry(kms(endpoint="unix:///run/kms%zz.sock"))),
        "resources[0].providers[0].kms.endpoint",
        "invalid endpoint for kms provider",
    ),
    rule(
        "V21-cachesize-v2",
        doc(entry(kms(apiVersion="v1", cachesize=100))),
        doc(entry(kms(apiVersion="v2", cachesize=100))),
        "resources[0].providers[0].kms.cachesize",
        "cachesize is not supported in v2",
    ),
    rule(
        "V22-cachesize-zero",
        doc(entry(kms(apiVersion="v1", cachesize=-1))),
        doc(entry(kms(apiVersion="v1", cachesize=0))),
        "resources[0].providers[0].kms.cachesize",
        "cachesize should be a positive value, or negative to disable",
    ),
    rule(
        "V23-api-version",
        doc(entry(kms(apiVersion="v2"))),
        doc(entry(kms(apiVersion="v3"))),
        "resources[0].providers[0].kms.apiVersion",
        "for KMS provider, only v1 and v2 are supported",
    ),
]


@pytest.mark.parametrize(("valid", "invalid", "path", "phrase", "reload"), RULES)
def test_rule(valid: str, invalid: str, path: str, phrase: str, reload: bool) -> None:
    good = lint(valid, reload=reload)
    assert good.errors == ()
    assert good.config is not None
    bad = lint(invalid, reload=reload)
    assert bad.config is None
    assert_issue(bad.errors, path, phrase)


def test_kms_v1_duplicate_names_only_warn_without_reload() -> None:
    text = doc(entry(kms(name="a", apiVersion="v1"), kms(name="a", apiVersion="v1")))
    report = lint(text)
    assert report.errors == ()
    assert_issue(
        report.warnings,
        "resources[0].providers[1].kms.name",
        "--encryption-provider-config-automatic-reload",
    )


def test_kms_v1_name_may_contain_colon() -> None:
    report = lint(doc(entry(kms(name="a:b", apiVersion="v1"))))
    assert report.errors == ()


def test_every_problem_is_reported_at_once() -> None:
    text = doc(
        entry(keys("aesgcm", secret(20)), kms(timeout="0s"), resources=["Secrets", "*"]),
        entry(),
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "many.yaml")
    paths = {issue.path for issue in caught.value.issues}
    assert {
        "resources[0].resources[0]",
        "resources[0].resources[1]",
        "resources[0].providers[0].aesgcm.keys[0].secret",
        "resources[0].providers[1].kms.timeout",
        "resources[1].providers",
    } <= paths
    assert str(caught.value).startswith("many.yaml: ")


class TestDefaults:
    def test_kms_without_api_version_is_v1_with_cache(self) -> None:
        config = parse_config(doc(entry(kms(apiVersion=DROP))), "d.yaml")
        block = config.resources[0].providers[0].kms
        assert block is not None
        assert (block.api_version, block.cachesize, block.timeout_seconds) == ("v1", 1000, 3.0)
        assert block.path == "resources[0].providers[0].kms"

    def test_kms_v2_has_no_cachesize(self) -> None:
        block = parse_config(doc(entry(kms())), "d.yaml").resources[0].providers[0].kms
        assert block is not None
        assert (block.api_version, block.cachesize, block.timeout_seconds) == ("v2", None, 3.0)

    def test_explicit_values_are_kept(self) -> None:
        text = doc(entry(kms(apiVersion="v1", cachesize=-1, timeout="1m30s")))
        block = parse_config(text, "d.yaml").resources[0].providers[0].kms
        assert block is not None
        assert (block.cachesize, block.timeout_seconds) == (-1, 90.0)

    def test_empty_api_version_defaults_to_v1(self) -> None:
        block = parse_config(doc(entry(kms(apiVersion=""))), "d.yaml").resources[0].providers[0]
        assert block.kms is not None
        assert block.kms.api_version == "v1"
        assert block.label == "kms v1 (kms)"

    def test_model_paths_and_keys(self) -> None:
        config = parse_config(doc(entry(kms(), keys("aescbc", secret(32), secret(16)))), "x")
        provider = config.resources[0].providers[1]
        assert (provider.type, provider.path) == ("aescbc", "resources[0].providers[1]")
        assert [key.name for key in provider.keys] == ["key0", "key1"]
        assert provider.keys[1].path == "resources[0].providers[1].aescbc.keys[1]"
        assert len(provider.keys[0].material()) == 32
        assert config.source == "x"

    def test_secret_split_over_lines_decodes_like_go(self) -> None:
        text = doc(entry(kms())).replace(
            "providers:\n",
            f"providers:\n  - secretbox:\n      keys:\n      - name: k\n"
            f"        secret: |\n          {secret(32)[:20]}\n          {secret(32)[20:]}\n",
            1,
        )
        config = parse_config(text, "x")
        assert config.resources[0].providers[0].keys[0].material() == base64.b64decode(secret(32))


class TestKindAndApiVersion:
    def test_legacy_alias_is_accepted_with_a_warning(self) -> None:
        report = lint(doc(GOOD, apiVersion="v1", kind="EncryptionConfig"))
        assert report.errors == ()
        assert_issue(report.warnings, "kind", "legacy alias")

    @pytest.mark.parametrize(
        ("api_version", "kind", "path"),
        [
            pytest.param("apiserver.config.k8s.io/v1", "EncryptionConfig", "apiVersion", id="mix1"),
            pytest.param("v1", "EncryptionConfiguration", "apiVersion", id="mix2"),
            pytest.param("apiserver.config.k8s.io/v1", "AdmissionConfiguration", "kind", id="kind"),
            pytest.param("apiserver.config.k8s.io/v2", "EncryptionConfiguration", "apiVersion"),
            pytest.param(DROP, "EncryptionConfiguration", "apiVersion", id="no-apiVersion"),
            pytest.param("apiserver.config.k8s.io/v1", DROP, "kind", id="no-kind"),
        ],
    )
    def test_wrong_pairs(self, api_version: object, kind: object, path: str) -> None:
        pairs = {"apiVersion": api_version, "kind": kind}
        fields = {key: value for key, value in pairs.items() if value is not DROP}
        text = yaml.safe_dump({**fields, "resources": [GOOD]})
        report = lint(text)
        assert_issue(report.errors, path, "apiserver.config.k8s.io/v1")


class TestStrictDecoding:
    def test_unknown_field_names_path_and_valid_fields(self) -> None:
        report = lint(doc(entry(kms(pandas="are the best"))))
        assert (
            ConfigIssue(
                "resources[0].providers[0].kms.pandas",
                "unknown field; valid fields: apiVersion, name, endpoint, cachesize, timeout",
            )
            in report.errors
        )

    def test_unknown_top_level_field(self) -> None:
        report = lint(doc(GOOD, metadata={"name": "x"}))
        assert_issue(report.errors, "metadata", "valid fields: apiVersion, kind, resources")

    def test_typo_gets_a_suggestion(self) -> None:
        report = lint(doc(entry({"aesgmc": {"keys": []}})))
        assert_issue(report.errors, "resources[0].providers[0].aesgmc", "did you mean aesgcm?")

    def test_field_names_are_case_sensitive(self) -> None:
        report = lint(doc(entry(kms(apiVersion=DROP, apiversion="v2"))))
        assert_issue(report.errors, "resources[0].providers[0].kms.apiversion", "apiVersion?")

    def test_identity_takes_no_fields(self) -> None:
        report = lint(doc(entry({"identity": {"enabled": True}})))
        assert_issue(report.errors, "resources[0].providers[0].identity.enabled", "unknown")

    def test_duplicate_key_is_an_error(self) -> None:
        text = doc(entry(kms(name="first"))).replace(
            "name: first\n", "name: first\n      name: second\n"
        )
        report = lint(text)
        assert_issue(report.errors, "resources[0].providers[0].kms.name", "duplicate field name")
        assert_issue(report.errors, "resources[0].providers[0].kms.name", "line 9")

    @pytest.mark.parametrize(
        ("provider", "path", "phrase"),
        [
            pytest.param(
                {"aescbc": {"keys": {"name": "k"}}},
                "resources[0].providers[0].aescbc.keys",
                "expected a list, got a mapping",
                id="keys-not-a-list",
            ),
            pytest.param(
                kms(apiVersion="v1", cachesize="100"),
                "resources[0].providers[0].kms.cachesize",
                "expected an integer, got a string",
                id="cachesize-string",
            ),
            pytest.param(
                kms(apiVersion="v1", cachesize=True),
                "resources[0].providers[0].kms.cachesize",
                "expected an integer, got a boolean",
                id="cachesize-bool",
            ),
            pytest.param(
                kms(apiVersion="v1", cachesize=2**31),
                "resources[0].providers[0].kms.cachesize",
                "32-bit integer",
                id="cachesize-int32",
            ),
            pytest.param(
                kms(timeout=3),
                "resources[0].providers[0].kms.timeout",
                'expected a duration string such as "3s", got an integer',
                id="timeout-int",
            ),
            pytest.param(
                kms(timeout="3 seconds"),
                "resources[0].providers[0].kms.timeout",
                "time: unknown unit",
                id="timeout-unit",
            ),
            pytest.param(
                kms(name=42),
                "resources[0].providers[0].kms.name",
                "expected a string, got an integer",
                id="name-int",
            ),
            pytest.param(
                {"secretbox": {"keys": [{"name": "k", "secret": 12345}]}},
                "resources[0].providers[0].secretbox.keys[0].secret",
                "expected a string, got an integer",
                id="secret-int",
            ),
            pytest.param(
                {"kms": "unix:///x"},
                "resources[0].providers[0].kms",
                "expected a mapping, got a string",
                id="kms-string",
            ),
        ],
    )
    def test_wrong_types(self, provider: dict[str, Any], path: str, phrase: str) -> None:
        report = lint(doc(entry(provider)))
        assert report.config is None
        assert_issue(report.errors, path, phrase)

    def test_type_error_does_not_also_report_missing_value(self) -> None:
        report = lint(doc(entry({"secretbox": {"keys": [{"name": "k", "secret": 12345}]}})))
        assert len(report.errors) == 1

    def test_resources_entry_must_be_strings(self) -> None:
        report = lint(doc(entry(kms(), resources=["secrets", ["nested"]])))  # type: ignore[list-item]
        assert_issue(report.errors, "resources[0].resources[1]", "expected a string, got a list")


class TestFileLevelErrors:
    @pytest.mark.parametrize(
        ("text", "phrase"),
        [
            pytest.param("", 'configuration file "f.yaml" is empty', id="empty"),
            pytest.param("# only a comment\n", "is empty", id="comment-only"),
            pytest.param("resources: [\n  - a\n", "YAML: line 2, column 3", id="bad-yaml"),
            pytest.param("- a\n- b\n", "expected a mapping", id="list"),
            pytest.param("just a string", "got a string", id="scalar"),
            pytest.param("a: \x00", "unacceptable character", id="nul"),
            pytest.param("--- {}\n--- {}\n", "not valid YAML", id="two-documents"),
        ],
    )
    def test_parse_config_raises(self, text: str, phrase: str) -> None:
        with pytest.raises(ConfigError) as caught:
            parse_config(text, "f.yaml")
        assert caught.value.source == "f.yaml"
        assert any(phrase in issue.message for issue in caught.value.issues), caught.value.issues

    def test_yaml_error_does_not_quote_the_line(self) -> None:
        leaked = "c2VjcmV0LXNob3VsZC1ub3QtbGVhaw=="
        report = lint(f"resources:\n- providers:\n  - aesgcm: {{keys: [{{secret: {leaked}\n")
        assert report.errors
        assert all(leaked[:8] not in issue.message for issue in report.errors)

    def test_load_config_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="cannot read the file"):
            load_config(tmp_path / "missing.yaml")

    def test_load_config_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.yaml"
        path.write_bytes(b"kind: \xff\n")
        with pytest.raises(ConfigError, match="not UTF-8"):
            load_config(path)

    def test_load_config_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.yaml"
        path.write_bytes(b"")
        with pytest.raises(ConfigError, match="is empty"):
            load_config(str(path))

    def test_lint_file_reports_without_raising(self, tmp_path: Path) -> None:
        path = tmp_path / "c.yaml"
        path.write_text(doc(entry(kms(apiVersion="v9"))), encoding="utf-8")
        report = lint_file(path)
        assert not report.valid
        assert report.config is None


def test_recorded_config_loads_and_warns_about_kms_v1() -> None:
    config = load_config(RECORDED)
    assert config.resources[0].resources == ("secrets", "configmaps", "widgets.example.com")
    types = [provider.type for provider in config.resources[0].providers]
    assert types == ["identity", "aescbc", "aesgcm", "secretbox", "kms", "kms"]
    report = lint_file(RECORDED)
    assert report.valid
    assert_issue(
        report.warnings, "resources[0].providers[5].kms.apiVersion", "--feature-gates=KMSv1=true"
    )
    assert_issue(report.warnings, "resources[0].providers[5].kms.apiVersion", "deprecated")


class TestWarnings:
    def test_clean_kms_v2_config_has_no_warnings(self) -> None:
        report = lint(doc(entry(kms(), {"identity": {}})))
        assert report.warnings == ()

    @pytest.mark.parametrize(
        ("text", "path", "phrase"),
        [
            pytest.param(
                doc(entry({"identity": {}}, kms())),
                "resources[0].providers[0]",
                "identity is the first provider",
                id="identity-first",
            ),
            pytest.param(
                doc(entry({"identity": {}})),
                "resources[0].providers[0]",
                "identity is the only provider",
                id="identity-only",
            ),
            pytest.param(
                doc(entry(kms(), keys("aescbc", secret(32)))),
                "resources[0].providers[1].aescbc",
                "padding oracle",
                id="aescbc",
            ),
            pytest.param(
                doc(entry(keys("secretbox", secret(32)))),
                "resources[0].providers[0].secretbox",
                "key is stored in this file",
                id="static-key",
            ),
            pytest.param(
                doc(entry(keys("aesgcm", secret(32)))),
                "resources[0].providers[0].aesgcm",
                "rotating its key every 200,000 writes",
                id="aesgcm-rotation",
            ),
            pytest.param(
                doc(entry(kms(apiVersion="v1"))),
                "resources[0].providers[0].kms.apiVersion",
                "KMS v1 is deprecated",
                id="kms-v1",
            ),
            pytest.param(
                doc(entry(kms(apiVersion=DROP))),
                "resources[0].providers[0].kms.apiVersion",
                "apiVersion is not set, so this is a KMS v1 provider",
                id="kms-default-v1",
            ),
            pytest.param(
                doc(entry(kms(), resources=["configmaps"])),
                "resources",
                "no entry covers secrets",
                id="secrets-uncovered",
            ),
            pytest.param(
                doc(entry(kms(name="a")), entry(kms(name="b"), resources=["secrets"])),
                "resources[1].resources[0]",
                "also listed in resources[0]",
                id="repeated-resource",
            ),
        ],
    )
    def test_warning(self, text: str, path: str, phrase: str) -> None:
        report = lint(text)
        assert report.errors == ()
        assert_issue(report.warnings, path, phrase)

    @pytest.mark.parametrize("rule_text", ["*.", "*.*"])
    def test_wildcards_cover_secrets(self, rule_text: str) -> None:
        report = lint(doc(entry(kms(), resources=[rule_text])))
        assert not [w for w in report.warnings if "covers secrets" in w.message]


LEAKY_SECRETS = [secret(20, seed=7), secret(31, seed=8), secret(64, seed=9), "Zm9v!!bad-LEAK-9x"]


def test_no_secret_value_in_messages_or_reprs() -> None:
    providers = [keys(kind, s) for kind in ("aesgcm", "aescbc", "secretbox") for s in LEAKY_SECRETS]
    misplaced = {"name": "k", LEAKY_SECRETS[2]: "secret written as a field name"}
    broken = doc(
        entry(*providers),
        entry(
            {"aesgcm": {"keys": [{"name": "k", "secret": 5}]}}, {"aescbc": {"keys": [misplaced]}}
        ),
    )
    report = lint(broken)
    with pytest.raises(ConfigError) as caught:
        parse_config(broken, "leak.yaml")
    valid_secret = secret(32, seed=10)
    config = parse_config(doc(entry(keys("aesgcm", valid_secret))), "ok.yaml")
    texts = [str(issue) for issue in report.errors + report.warnings]
    texts += [str(caught.value), repr(caught.value.issues), repr(config), repr(report)]
    for value in [*LEAKY_SECRETS, valid_secret]:
        windows = {value[i : i + 8] for i in range(len(value) - 7)}
        assert not any(window in text for window in windows for text in texts), value
    assert len(report.errors) >= len(providers)
    assert_issue(report.errors, "resources[1].providers[1].aescbc.keys[0]", "name not shown")
