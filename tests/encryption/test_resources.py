"""Group-resource parsing, chain lookup (exact, ``*.<group>``, ``*.*``) and resource-list rules."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.encryption.config import parse_config
from sealbox.encryption.model import EncryptionConfiguration
from sealbox.encryption.resources import (
    ANY_GROUP_ANY_RESOURCE,
    GroupResource,
    check_masking,
    check_resource_overlap,
    find_entry,
    parse_group_resource,
    provider_chain,
    resolve,
)


@pytest.mark.parametrize(
    ("text", "group", "resource"),
    [
        ("secrets", "", "secrets"),
        ("*.", "", "*"),
        ("*.*", "*", "*"),
        ("*.apps", "apps", "*"),
        ("deployments.apps", "apps", "deployments"),
        ("widgets.example.com", "example.com", "widgets"),
        ("pandas.awesome.bears.example", "awesome.bears.example", "pandas"),
        ("secrets.", "", "secrets"),
        ("", "", ""),
    ],
)
def test_parse_group_resource_splits_at_first_dot(text: str, group: str, resource: str) -> None:
    assert parse_group_resource(text) == GroupResource(group, resource)


@pytest.mark.parametrize(
    ("gr", "text"),
    [
        (GroupResource("", "secrets"), "secrets"),
        (GroupResource("", "*"), "*."),
        (ANY_GROUP_ANY_RESOURCE, "*.*"),
        (GroupResource("apps", "*"), "*.apps"),
        (GroupResource("example.com", "widgets"), "widgets.example.com"),
    ],
)
def test_str_is_the_config_form_and_round_trips(gr: GroupResource, text: str) -> None:
    assert str(gr) == text
    assert parse_group_resource(str(gr)) == gr


def _config(*entries: tuple[list[str], str]) -> EncryptionConfiguration:
    """One entry per (resources, kms name) pair, each with a kms v2 provider then identity."""
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {
                "resources": resources,
                "providers": [
                    {"kms": {"apiVersion": "v2", "name": name, "endpoint": "unix:///k.sock"}},
                    {"identity": {}},
                ],
            }
            for resources, name in entries
        ],
    }
    return parse_config(yaml.safe_dump(document), "resources-test")


LAYERED = _config(
    (["secrets"], "exact"),
    (["*.apps"], "apps-group"),
    (["*."], "core-group"),
    (["*.*"], "everything"),
)


@pytest.mark.parametrize(
    ("resource", "entry_path", "rule"),
    [
        pytest.param("secrets", "resources[0]", "secrets", id="exact"),
        pytest.param("deployments.apps", "resources[1]", "*.apps", id="group-wildcard"),
        pytest.param("configmaps", "resources[2]", "*.", id="core-wildcard"),
        pytest.param("widgets.example.com", "resources[3]", "*.*", id="star-star"),
        pytest.param(GroupResource("batch", "jobs"), "resources[3]", "*.*", id="group-resource"),
    ],
)
def test_find_entry(resource: str | GroupResource, entry_path: str, rule: str) -> None:
    entry = find_entry(LAYERED, resource)
    assert entry is not None
    assert entry.path == entry_path
    assert str(resolve(LAYERED, resource).rule) == rule


def test_no_match_means_apiserver_default() -> None:
    config = _config((["secrets"], "a"), (["*.apps"], "b"))
    assert find_entry(config, "configmaps") is None
    assert find_entry(config, "widgets.example.com") is None
    resolution = resolve(config, "configmaps")
    assert (resolution.rule, resolution.providers, resolution.write_provider) == (None, (), None)
    assert provider_chain(config, "configmaps") == ()


def test_core_wildcard_does_not_cover_other_groups() -> None:
    config = _config((["*."], "core"))
    assert find_entry(config, "pods") is not None
    assert find_entry(config, "deployments.apps") is None


def test_wildcard_of_another_group_does_not_apply() -> None:
    config = _config((["*.apps"], "apps"), (["deployments.extras"], "exact"))
    entry = find_entry(config, "deployments.extras")
    assert entry is not None
    assert entry.path == "resources[1]"


def test_resource_in_two_entries_concatenates_chains() -> None:
    config = _config((["secrets"], "first"), (["secrets", "configmaps"], "second"))
    first = find_entry(config, "secrets")
    assert first is not None
    assert first.path == "resources[0]"
    labels = [provider.label for provider in provider_chain(config, "secrets")]
    assert labels == ["kms v2 (first)", "identity", "kms v2 (second)", "identity"]
    write = resolve(config, "secrets").write_provider
    assert write is not None
    assert write.label == "kms v2 (first)"
    assert provider_chain(config, "configmaps")[0].label == "kms v2 (second)"


def test_masking_names_the_earlier_rule_and_its_path() -> None:
    issues = check_masking(
        [("resources[0].resources", ["*.", "*.apps"]), ("resources[1].resources", ["pods", "x"])]
    )
    assert [issue.path for issue in issues] == [
        "resources[1].resources[0]",
        "resources[1].resources[1]",
    ]
    assert 'resource "pods" is masked by earlier rule "*."' in issues[0].message
    assert "resources[0].resources[0]" in issues[0].message


def test_specific_resources_before_wildcards_are_not_masked() -> None:
    assert check_masking([("r", ["secrets"]), ("s", ["*."]), ("t", ["*.*"])]) == []


def _go_overlap(resources: list[str]) -> tuple[bool, bool]:
    """The apiserver's validateResourceOverlap loop, transcribed literally."""
    grs = [parse_group_resource(text) for text in resources]
    has_duplicate = has_overlap = False
    if len(grs) < 2:
        return False, False
    for i, first in enumerate(grs):
        for j, second in enumerate(grs):
            if i == j:
                continue
            if first == second and not has_duplicate:
                has_duplicate = True
                continue
            if has_overlap:
                continue
            if first == ANY_GROUP_ANY_RESOURCE:
                has_overlap = True
                continue
            if first.group != second.group:
                continue
            if "*" in (first.resource, second.resource):
                has_overlap = True
    return has_duplicate, has_overlap


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["secrets", "pods", "*.", "*.*", "*.apps", "x.apps", "y.apps", "secrets."]),
        max_size=6,
    )
)
def test_overlap_check_matches_the_apiserver_loop(resources: list[str]) -> None:
    messages = [issue.message for issue in check_resource_overlap(resources, "p")]
    duplicate = any("cannot be specified multiple times" in m for m in messages)
    overlap = any("overlapping resources" in m for m in messages)
    assert (duplicate, overlap) == _go_overlap(resources)
