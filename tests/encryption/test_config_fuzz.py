"""Arbitrary text and YAML given to the config linter only ever yield a report (hypothesis)."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.encryption.config import ConfigReport
from sealbox.errors import ConfigError
from tests.encryption.configs import doc, entry, lint, secret

_FIELDS = ["apiVersion", "kind", "resources", "providers", "kms", "aesgcm", "aescbc", "secretbox"]
_FIELDS += ["identity", "keys", "name", "secret", "endpoint", "cachesize", "timeout", "x"]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["v1", "v2", "3s", "-1s", "unix:///x", "*.", "*.*", secret(32), "secrets"]),
)
_YAMLISH = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_FIELDS), inner, max_size=5)
    ),
    max_leaves=25,
)


def _lint_never_crashes(text: str) -> None:
    try:
        report = lint(text)
    except ConfigError:
        return
    assert isinstance(report, ConfigReport)
    assert (report.config is None) == bool(report.errors)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_arbitrary_text_yields_a_report(text: str) -> None:
    _lint_never_crashes(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_FIELDS), _YAMLISH, max_size=4))
def test_arbitrary_yaml_yields_a_report(document: dict[str, Any]) -> None:
    _lint_never_crashes(yaml.safe_dump(document))
    _lint_never_crashes(
        doc(entry(document, resources=["secrets"]))  # a random provider element
    )


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    report = lint("a: " + "[" * 5000 + "]" * 5000)
    assert report.errors
