"""Properties of plans over generated targets and configs (hypothesis)."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.encryption import parse_config
from sealbox.errors import InputError
from sealbox.rotate import Target, parse_target, plan_rotation
from tests.rotate.test_plan import (
    CBC,
    GCM,
    IDENTITY,
    NOW,
    Keys,
    assert_no_key_values,
    config,
    entry,
    kms,
    labels,
    staged,
    static,
)

BOX = static("secretbox", ("box", base64.b64encode(b"x" * 32).decode()))
ENCRYPTING = [CBC, GCM, BOX]


@given(st.text(max_size=40))
def test_any_target_text_parses_or_is_one_line_naming_to(text: str) -> None:
    try:
        target = parse_target(text)
    except InputError as exc:
        message = str(exc)
        assert message.startswith("--to ")
        assert "\n" not in message
        return
    assert isinstance(target, Target)
    assert str(target) == text
    assert parse_target(str(target)) == target


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, int]:
    """A valid file of 1-3 entries (distinct resources), each with a random provider list."""
    names = draw(st.permutations(["secrets", "configmaps", "leases.coordination.k8s.io"]))
    count = draw(st.integers(1, 3))
    entries = []
    kms_used = 0
    for name in names[:count]:
        first = draw(st.sampled_from([*ENCRYPTING, IDENTITY, "kms"]))
        if first == "kms":
            kms_used += 1
            first = kms(f"old{kms_used}")
        rest = draw(st.lists(st.sampled_from([*ENCRYPTING, IDENTITY]), max_size=2))
        entries.append(entry(name, first, *rest))
    return config(*entries), count


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(configs(), st.sampled_from(["aesgcm", "aescbc", "secretbox", "kms:new"]))
def test_every_staged_file_loads_and_moves_the_new_one_first(
    generated: tuple[str, int], target: str
) -> None:
    text, _ = generated
    keys = Keys()
    endpoint = "unix:///new.sock" if target.startswith("kms") else None
    try:
        plan = plan_rotation(text, "enc.yaml", target, kms_endpoint=endpoint, now=NOW, new_key=keys)
    except InputError as exc:
        message = str(exc)
        assert "nothing to rotate" in message or "would all list new" in message
        return
    assert_no_key_values(plan, keys)
    original = parse_config(text, "enc.yaml", reload=True)
    for index in plan.entries:
        before = labels(original, index)
        add = labels(staged(plan, "add"), index)
        promoted = labels(staged(plan, "promote"), index)
        removed = labels(staged(plan, "remove"), index)
        new = promoted[0]
        if target == "kms:new":
            assert new == "kms:new"
        kind, _, names = before[0].partition(":")
        if kind == target:  # a new key in the same provider
            old = names.split(",")
            fresh = new.partition(":")[2].split(",")[0]
            assert fresh.startswith("key-20261202t113700")
            assert add == [f"{kind}:{','.join([old[0], fresh, *old[1:]])}", *before[1:]]
            assert promoted == [f"{kind}:{','.join([fresh, *old])}", *before[1:]]
            assert removed == [f"{kind}:{fresh}", *before[1:]]
        else:  # a new provider: second, first, then the old first one goes
            assert add == [before[0], new, *before[1:]]
            assert promoted == [new, *before]
            assert removed == [new, *before[1:]]
