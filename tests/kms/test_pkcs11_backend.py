"""The ``pkcs11`` backend against real SoftHSM2 tokens (one fresh token per test).

Keys are made and inspected from other processes too (``SoftHsmToken.run_python``), the way an
operator's ``rotate-key`` or ``pkcs11-tool`` would, so cross-process visibility is exercised.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sealbox.errors import (
    AccessDenied,
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    SealboxError,
)
from sealbox.kms.backends import BlockingBackend, configure_backend
from sealbox.kms.backends.pkcs11 import Config, Pin, Pkcs11Backend, Pkcs11Proxy, build, rotate_key
from sealbox.kms.backends.pkcs11 import _format as fmt
from sealbox.kms.backends.pkcs11._runtime import HsmRuntime, Login
from sealbox.kms.plugin import parse_plugin_config
from tests.integration.backends import pkcs11 as fixtures
from tests.integration.backends.pkcs11 import SOFTHSM_MODULE, SoftHsmToken
from tests.integration.harness import BackendHarness
from tests.integration.processes import wait_until

softhsm_token = fixtures.softhsm_token
pkcs11_harness = fixtures.pkcs11_harness

SEED = bytes(range(32))
Factory = Callable[..., Pkcs11Backend]

_MAKE_KEY = """
import sys
import pkcs11
from pkcs11 import Attribute, KeyType, MechanismFlag
label, pin, key_label, cka_id, extractable = sys.argv[1:6]
token = pkcs11.lib(sys.argv[6]).get_token(token_label=label)
with token.open(user_pin=pin, rw=True) as session:
    session.generate_key(
        KeyType.AES, 256, label=key_label, id=bytes.fromhex(cka_id), store=True,
        capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
        template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: extractable == "1"},
    )
"""

_INSPECT_KEYS = """
import sys
import pkcs11
from pkcs11 import Attribute, ObjectClass
label, pin, key_label = sys.argv[1:4]
token = pkcs11.lib(sys.argv[4]).get_token(token_label=label)
with token.open(user_pin=pin) as session:
    keys = list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY,
                                     Attribute.LABEL: key_label}))
    for key in keys:
        try:
            key[Attribute.VALUE]
            value = "readable"
        except pkcs11.PKCS11Error as exc:
            value = type(exc).__name__
        print(key[Attribute.ID].hex(), key[Attribute.SENSITIVE], key[Attribute.EXTRACTABLE],
              key[Attribute.PRIVATE], key[Attribute.TOKEN], value)
"""


def _config(token: SoftHsmToken, **overrides: Any) -> Config:
    return Config.model_validate(token.config(**overrides))


def _make_key(token: SoftHsmToken, cka_id: bytes, *, extractable: bool = False) -> None:
    args = (token.label, token.pin, "sealbox-kek", cka_id.hex(), "1" if extractable else "0")
    token.run_python(_MAKE_KEY, *args, SOFTHSM_MODULE)


def _pkcs11_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sealbox-pkcs11")]


@pytest.fixture
def backend_for(softhsm_token: SoftHsmToken) -> Iterator[Factory]:
    """Build backends on the test's token and close them all afterwards."""
    built: list[Pkcs11Backend] = []

    def factory(**overrides: Any) -> Pkcs11Backend:
        backend = build(_config(softhsm_token, **overrides), base_dir=softhsm_token.root)
        built.append(backend)
        return backend

    yield factory
    for backend in built:
        backend.close()
    assert _pkcs11_threads() == []  # the last close stops the PKCS#11 thread


# -- config (no token needed) ------------------------------------------------------------------


def _config_issues(entry: str) -> list[tuple[str, str]]:
    """Validate ``entry`` as plugin.yaml's primary backend; the issues a user would read."""
    text = (
        "apiVersion: sealbox.io/v1alpha1\nkind: KMSPluginConfiguration\nsocket: /run/k.sock\n"
        f"backends:\n  primary: {{type: pkcs11, tokenLabel: kms, {entry}}}\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_plugin_config(text, "plugin.yaml", base_dir=Path("/etc/sealbox"))
    return [(issue.path, issue.message) for issue in info.value.issues]


def test_config_needs_exactly_one_pin_source() -> None:
    [(path, both)] = _config_issues("pinFile: /pin, pinEnv: PIN")
    assert path == "backends.primary"
    assert "set exactly one of pinFile or pinEnv (both are set)" in both
    [(_, neither)] = _config_issues("generateIfMissing: true")
    assert "set exactly one of pinFile or pinEnv (neither is set)" in neither


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("pinEnv: PIN, pin: '7391'", "pin"),
        ("pinEnv: PIN, tokenLabel: ''", "tokenLabel"),
        (f"pinEnv: PIN, keyLabel: {'x' * 33}", "keyLabel"),
        ("pinEnv: 'A=7391'", "pinEnv"),
        ("pinEnv: PIN, rescanInterval: 2h", "rescanInterval"),
        ("pinEnv: PIN, module: ''", "module"),
        ("pinEnv: PIN, generateIfMissing: maybe", "generateIfMissing"),
    ],
)
def test_config_errors_name_the_field(entry: str, field: str) -> None:
    issues = _config_issues(entry)
    assert [path for path, _ in issues] == [f"backends.primary.{field}"]
    assert "7391" not in str(issues)  # a PIN pasted into the config is not echoed


def test_config_model_forbids_unknown_fields() -> None:
    with pytest.raises(ValidationError) as info:
        Config.model_validate({"type": "pkcs11", "tokenLabel": "kms", "pinEnv": "P", "x": 1})
    assert [e["loc"] for e in info.value.errors()] == [("x",)]


def test_config_reads_camel_case_and_keeps_no_pin() -> None:
    config = Config.model_validate(
        {"type": "pkcs11", "tokenLabel": "kms", "pinEnv": "HSM_PIN", "generateIfMissing": True}
    )
    assert config.module == SOFTHSM_MODULE
    assert config.key_label == "sealbox-kek"
    assert config.generate_if_missing is True
    assert config.rescan_seconds == 10.0
    assert "HSM_PIN" in repr(config)  # the variable's name, never its value


def test_pin_problems_are_config_errors(tmp_path: Path) -> None:
    missing = Config.model_validate(
        {"type": "pkcs11", "tokenLabel": "kms", "pinFile": "no-such-pin"}
    )
    with pytest.raises(ConfigError, match="cannot read the PIN") as info:
        build(missing, base_dir=tmp_path)
    assert str(tmp_path / "no-such-pin") in str(info.value)

    (tmp_path / "empty").write_text("\n")
    empty = Config.model_validate({"type": "pkcs11", "tokenLabel": "kms", "pinFile": "empty"})
    with pytest.raises(ConfigError, match="PIN file is empty"):
        build(empty, base_dir=tmp_path)

    unset = Config.model_validate({"type": "pkcs11", "tokenLabel": "kms", "pinEnv": "NO_PIN"})
    with pytest.raises(ConfigError, match="pinEnv: the PIN variable NO_PIN is empty or not set"):
        build(unset, base_dir=tmp_path, environ={})
    assert _pkcs11_threads() == []  # nothing was started for a config that cannot work


# -- formats (no token needed) -----------------------------------------------------------------


def test_key_id_names_token_label_and_id() -> None:
    kek = fmt.KekId.new(7, rand_bytes=lambda n: b"\xab" * n)
    key_id = fmt.key_id_for("my token", "k;1", kek)
    prefix = fmt.key_id_prefix("my token", "k;1")
    assert key_id.startswith("pkcs11:token=my%20token;object=k%3B1;id=%53%42%58%01%00%00%00%07%AB")
    assert fmt.parse_key_id(key_id, prefix) == kek
    assert len(key_id.encode()) <= 1024
    for bad in (
        key_id.lower(),
        key_id + "%00",
        key_id[:-3],
        key_id.replace("token=my%20token", "token=other"),
        prefix + "%00" * 24,  # generation 0 / no magic
    ):
        assert fmt.parse_key_id(bad, prefix) is None


def test_ciphertext_layout_is_checked_before_the_token() -> None:
    nonce, sealed = os.urandom(12), os.urandom(48)
    assert fmt.split_ciphertext(fmt.join_ciphertext(nonce, sealed)) == (nonce, sealed)
    for bad, reason in [
        (b"", "empty"),
        (b"\x02" + nonce + sealed, "unknown ciphertext format 0x02"),
        (b"\x01" + nonce + sealed[:15], "too short"),
    ]:
        with pytest.raises(ValueError, match=reason):
            fmt.split_ciphertext(bad)


# -- against SoftHSM2 --------------------------------------------------------------------------


@pytest.mark.integration
def test_round_trip(backend_for: Factory, softhsm_token: SoftHsmToken) -> None:
    backend = backend_for()
    wrapped = backend.wrap(SEED)
    assert wrapped.key_id == backend.current_key_id()
    assert wrapped.key_id.startswith(
        f"pkcs11:token={softhsm_token.label};object=sealbox-kek;id=%53%42%58%01%00%00%00%01"
    )
    assert wrapped.annotations == {}
    assert wrapped.ciphertext[0] == 0x01
    assert len(wrapped.ciphertext) == 1 + 12 + len(SEED) + 16
    assert SEED not in wrapped.ciphertext
    assert backend.owns(wrapped.key_id)
    assert backend.unwrap(wrapped.ciphertext, wrapped.key_id, {}) == SEED
    assert backend.wrap(SEED).ciphertext != wrapped.ciphertext  # fresh nonce each time
    blocking: BlockingBackend = backend  # synchronous, on the one PKCS#11 thread
    assert (blocking.kind, len(_pkcs11_threads())) == ("pkcs11", 1)
    assert backend.label == f"pkcs11 token {softhsm_token.label!r} key 'sealbox-kek'"


@pytest.mark.integration
def test_registry_builds_it(softhsm_token: SoftHsmToken) -> None:
    configured = configure_backend(softhsm_token.config())
    assert isinstance(configured.settings, Config)
    backend = configured.serve(softhsm_token.root)
    try:
        assert isinstance(backend, Pkcs11Proxy)

        async def round_trip() -> bytes:
            wrapped = await backend.wrap(SEED)
            return await backend.unwrap(wrapped.ciphertext, wrapped.key_id, {})

        assert asyncio.run(round_trip()) == SEED
    finally:
        backend.close()


@pytest.mark.integration
def test_key_id_is_stable_across_calls_and_instances(backend_for: Factory) -> None:
    first = backend_for()
    key_id = first.current_key_id()
    ciphertext = first.wrap(SEED).ciphertext
    assert {first.current_key_id() for _ in range(5)} == {key_id}
    second = backend_for()  # a second instance while the first is open: shares the login
    assert second.current_key_id() == key_id
    assert second.unwrap(ciphertext, key_id, {}) == SEED
    first.close()  # must not log the second out
    assert second.unwrap(ciphertext, key_id, {}) == SEED
    second.close()
    assert _pkcs11_threads() == []
    third = backend_for()  # after a full stop: library re-initialized, same key
    assert third.current_key_id() == key_id
    assert third.unwrap(ciphertext, key_id, {}) == SEED


@pytest.mark.integration
def test_rotation_from_another_process(backend_for: Factory, softhsm_token: SoftHsmToken) -> None:
    backend = backend_for(rescanInterval="0s")
    old = backend.wrap(SEED)
    new_key_id = softhsm_token.rotate()
    assert new_key_id != old.key_id
    assert backend.current_key_id() == new_key_id
    new = backend.wrap(SEED)
    assert new.key_id == new_key_id
    assert "%00%00%00%02" in new_key_id  # generation 2
    assert backend.unwrap(old.ciphertext, old.key_id, {}) == SEED
    assert backend.unwrap(new.ciphertext, new.key_id, {}) == SEED
    third = backend.rotate()  # in-process rotation, same rules
    assert third not in (old.key_id, new_key_id)
    assert backend.current_key_id() == third
    assert backend.unwrap(old.ciphertext, old.key_id, {}) == SEED


@pytest.mark.integration
def test_rescan_interval_limits_how_often_keys_are_listed(softhsm_token: SoftHsmToken) -> None:
    now = [1000.0]
    backend = Pkcs11Backend(
        module=SOFTHSM_MODULE,
        token_label=softhsm_token.label,
        key_label="sealbox-kek",
        pin=Pin(softhsm_token.pin),
        rescan_seconds=30.0,
        clock=lambda: now[0],
    )
    try:
        backend.start(generate_if_missing=True)
        old = backend.wrap(SEED)
        new_key_id = softhsm_token.rotate()
        now[0] += 29.0
        assert backend.current_key_id() == old.key_id  # not looked again yet
        now[0] += 1.0
        assert backend.current_key_id() == new_key_id
        third = softhsm_token.rotate()
        bogus = fmt.join_ciphertext(b"\x00" * 12, b"\x00" * 48)
        with pytest.raises(BackendRejected, match="does not decrypt"):  # not "no KEK with"
            backend.unwrap(bogus, third, {})  # an unknown key_id is looked up at once
    finally:
        backend.close()


@pytest.mark.integration
def test_bad_input_is_rejected(backend_for: Factory, softhsm_token: SoftHsmToken) -> None:
    backend = backend_for(rescanInterval="0s")
    old = backend.wrap(SEED)
    new = backend.wrap(SEED)  # same key, other nonce
    rotated = backend.rotate()
    ct, key_id = old.ciphertext, old.key_id
    tampered = {
        "last byte": ct[:-1] + bytes([ct[-1] ^ 1]),
        "nonce": ct[:1] + bytes([ct[1] ^ 1]) + ct[2:],
        "body": ct[:20] + bytes([ct[20] ^ 0x80]) + ct[21:],
        "other ciphertext": new.ciphertext[:13] + ct[13:],
        "truncated": ct[:-1],
        "shortest": ct[:29],
        "extended": ct + b"\x00",
    }
    for name, bad in tampered.items():
        with pytest.raises(BackendRejected, match="does not decrypt") as info:
            backend.unwrap(bad, key_id, {})
        assert key_id[:40] in str(info.value), name
    with pytest.raises(BackendRejected, match="does not decrypt"):
        backend.unwrap(ct, rotated, {})  # the key_id is the AAD: another key or AAD fails
    for bad, reason in [
        (b"\x02" + ct[1:], "unknown ciphertext format 0x02"),
        (b"", "empty"),
        (ct[:28], "too short"),
    ]:
        with pytest.raises(BackendRejected, match=reason):
            backend.unwrap(bad, key_id, {})
    unknown = fmt.key_id_for(softhsm_token.label, "sealbox-kek", fmt.KekId.new(1))
    with pytest.raises(BackendRejected, match="no KEK with key_id"):
        backend.unwrap(ct, unknown, {})
    for foreign in ("local:abc", key_id.replace("sealbox-kek", "other"), key_id + "x", ""):
        assert not backend.owns(foreign)
        with pytest.raises(BackendRejected, match="is not one of its keys"):
            backend.unwrap(ct, foreign, {})
    assert backend.unwrap(ct, key_id, {}) == SEED  # nothing above broke the session


@pytest.mark.integration
def test_wrong_pin_is_rejected_clearly(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    wrong = "wrong-pin-5f2c9e"
    config = _config(softhsm_token, pinFile=None, pinEnv="TEST_HSM_PIN")
    with pytest.raises(AccessDenied) as info:  # the plugin's credential: UNAVAILABLE, exit 2
        build(config, base_dir=tmp_path, environ={"TEST_HSM_PIN": wrong})
    assert isinstance(info.value, BackendUnavailable)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert message.endswith(f"the PIN for token {softhsm_token.label!r} was rejected")
    assert wrong not in message
    assert softhsm_token.pin not in message
    assert _pkcs11_threads() == []


@pytest.mark.integration
def test_wrong_pin_is_rejected_while_another_backend_is_logged_in(
    backend_for: Factory, softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    right = backend_for()
    config = _config(softhsm_token, pinFile=None, pinEnv="TEST_HSM_PIN")
    with pytest.raises(AccessDenied, match=r"PIN for token .* was rejected"):
        build(config, base_dir=tmp_path, environ={"TEST_HSM_PIN": "not-the-pin"})
    assert right.unwrap(*_wrapped_args(right)) == SEED
    env_backend = build(config, base_dir=tmp_path, environ={"TEST_HSM_PIN": softhsm_token.pin})
    try:
        assert env_backend.current_key_id() == right.current_key_id()
    finally:
        env_backend.close()


def _wrapped_args(backend: Pkcs11Backend) -> tuple[bytes, str, dict[str, bytes]]:
    wrapped = backend.wrap(SEED)
    return wrapped.ciphertext, wrapped.key_id, {}


@pytest.mark.integration
def test_kek_is_non_extractable(backend_for: Factory, softhsm_token: SoftHsmToken) -> None:
    backend = backend_for()
    backend.rotate()
    lines = softhsm_token.run_python(
        _INSPECT_KEYS, softhsm_token.label, softhsm_token.pin, "sealbox-kek", SOFTHSM_MODULE
    ).stdout.splitlines()
    assert len(lines) == 2
    for line in lines:
        cka_id, sensitive, extractable, private, on_token, value = line.split()
        assert fmt.KekId.parse(bytes.fromhex(cka_id)) is not None
        assert (sensitive, extractable, private, on_token) == ("True", "False", "True", "True")
        assert value == "AttributeSensitive"


@pytest.mark.integration
def test_missing_key_needs_generate_if_missing(softhsm_token: SoftHsmToken) -> None:
    config = _config(softhsm_token, generateIfMissing=False)
    with pytest.raises(BackendRejected, match=r"no KEK labelled 'sealbox-kek'.*generateIfMissing"):
        build(config, base_dir=softhsm_token.root)
    first = rotate_key(config, base_dir=softhsm_token.root)  # rotate-key on an empty token
    backend = build(config, base_dir=softhsm_token.root)
    try:
        assert backend.current_key_id() == first
    finally:
        backend.close()


@pytest.mark.integration
def test_generate_if_missing_creates_one_key_once(softhsm_token: SoftHsmToken) -> None:
    key_ids = []
    for _ in range(2):
        backend = build(_config(softhsm_token), base_dir=softhsm_token.root)
        key_ids.append(backend.current_key_id())
        backend.close()
    assert key_ids[0] == key_ids[1]
    lines = softhsm_token.run_python(
        _INSPECT_KEYS, softhsm_token.label, softhsm_token.pin, "sealbox-kek", SOFTHSM_MODULE
    ).stdout.splitlines()
    assert len(lines) == 1


@pytest.mark.integration
def test_foreign_keys_are_ignored_and_weak_ones_refused(
    backend_for: Factory, softhsm_token: SoftHsmToken
) -> None:
    _make_key(softhsm_token, b"\x01")  # same label, made by another tool: not a Sealbox KEK
    backend = backend_for(rescanInterval="0s")
    assert "%00%00%00%01" in backend.current_key_id()
    weak = fmt.KekId.new(99)
    _make_key(softhsm_token, weak.cka_id(), extractable=True)
    with pytest.raises(BackendRejected, match=r"refusing KEK .*non-extractable AES-256"):
        backend.current_key_id()


@pytest.mark.integration
def test_token_or_library_missing_is_unavailable(softhsm_token: SoftHsmToken) -> None:
    with pytest.raises(BackendUnavailable, match="no token labelled 'nope' is present"):
        build(_config(softhsm_token, tokenLabel="nope"), base_dir=softhsm_token.root)
    with pytest.raises(BackendUnavailable, match="cannot open shared object file"):
        build(_config(softhsm_token, module="lib/none.so"), base_dir=softhsm_token.root)
    assert _pkcs11_threads() == []


@pytest.mark.integration
def test_token_outage_and_recovery(backend_for: Factory, softhsm_token: SoftHsmToken) -> None:
    backend = backend_for()
    before = backend.wrap(SEED)
    softhsm_token.take_away()
    for call in (
        backend.current_key_id,
        lambda: backend.wrap(SEED),
        lambda: backend.unwrap(before.ciphertext, before.key_id, {}),
    ):
        with pytest.raises(BackendUnavailable, match="token"):
            call()
    assert backend.owns(before.key_id)  # a local check, still true
    softhsm_token.bring_back()

    def recovered() -> bool:
        try:
            return backend.unwrap(before.ciphertext, before.key_id, {}) == SEED
        except BackendUnavailable:
            return False

    wait_until(recovered, timeout=10, what="pkcs11 backend after the token came back")
    assert backend.current_key_id() == before.key_id
    assert backend.wrap(SEED).key_id == before.key_id


@pytest.mark.integration
def test_concurrent_callers_are_funnelled_to_one_thread(backend_for: Factory) -> None:
    backend = backend_for(rescanInterval="0s")
    rounds, workers = 25, 16  # 400 wraps + 400 unwraps, all at once
    barrier = threading.Barrier(workers)
    failures: list[BaseException] = []
    results: list[bool] = []

    def work() -> None:
        try:
            barrier.wait()
            for _ in range(rounds):
                seed = os.urandom(32)
                wrapped = backend.wrap(seed)
                results.append(backend.unwrap(wrapped.ciphertext, wrapped.key_id, {}) == seed)
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert results == [True] * (rounds * workers)
    assert len(_pkcs11_threads()) == 1


@pytest.mark.integration
def test_closed_backend_refuses_calls(softhsm_token: SoftHsmToken) -> None:
    backend = build(_config(softhsm_token), base_dir=softhsm_token.root)
    key_id = backend.current_key_id()
    backend.close()
    backend.close()  # idempotent
    with pytest.raises(BackendUnavailable, match="closed"):
        backend.wrap(SEED)
    assert backend.owns(key_id)
    assert _pkcs11_threads() == []


@pytest.mark.integration
def test_no_pin_in_reprs_errors_or_logs(
    softhsm_token: SoftHsmToken, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = _config(softhsm_token)
    texts = [repr(config), str(config), config.model_dump_json()]
    backend = build(config, base_dir=softhsm_token.root)
    try:
        texts += [repr(backend), str(backend), repr(backend._pin), repr(vars(backend))]
        wrapped = backend.wrap(SEED)
        with pytest.raises(SealboxError) as info:
            backend.unwrap(
                wrapped.ciphertext[:-1] + bytes([wrapped.ciphertext[-1] ^ 1]), wrapped.key_id, {}
            )
        texts.append(str(info.value))
    finally:
        backend.close()
    wrong = softhsm_token.pin[::-1]
    with pytest.raises(SealboxError) as info:
        build(
            _config(softhsm_token, pinFile=None, pinEnv="P"),
            base_dir=tmp_path,
            environ={"P": wrong},
        )
    texts.append(str(info.value))
    texts.extend(record.getMessage() for record in caplog.records)
    joined = "\n".join(texts)
    assert "was rejected" in joined  # the failures really happened
    assert "does not decrypt" in joined
    for secret in (softhsm_token.pin, wrong, softhsm_token.so_pin, SEED.hex()):
        assert secret not in joined


@pytest.mark.integration
def test_harness_levers(pkcs11_harness: BackendHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in pkcs11_harness.env.items():
        monkeypatch.setenv(name, value)
    config = Config.model_validate(pkcs11_harness.config)
    backend = build(config, base_dir=Path("/"))
    try:
        before = backend.wrap(SEED)
        pkcs11_harness.rotate()
        wait_until(
            lambda: backend.current_key_id() != before.key_id, timeout=10, what="rotated key"
        )
        assert pkcs11_harness.stop is not None
        assert pkcs11_harness.start is not None
        pkcs11_harness.stop()
        with pytest.raises(BackendUnavailable):
            backend.wrap(SEED)
        pkcs11_harness.start()
        wait_until(
            lambda: backend.unwrap(before.ciphertext, before.key_id, {}) == SEED,
            timeout=10,
            what="token back",
        )
    finally:
        backend.close()


class _CountingRuntime(HsmRuntime):
    def __init__(self) -> None:
        super().__init__()
        self.logins = 0

    def login(self, module: str, token_label: str, pin: str) -> Login:
        self.logins += 1
        return super().login(module, token_label, pin)


@pytest.mark.integration
def test_a_rejected_pin_is_never_tried_again(softhsm_token: SoftHsmToken) -> None:
    runtime = _CountingRuntime()
    backend = Pkcs11Backend(
        module=SOFTHSM_MODULE,
        token_label=softhsm_token.label,
        key_label="k",
        pin=Pin("bad"),
        runtime=runtime,
    )
    try:
        messages = []
        for call in (backend.start, backend.current_key_id, lambda: backend.wrap(SEED)):
            with pytest.raises(AccessDenied) as info:
                call()
            messages.append(str(info.value))
        assert runtime.logins == 1  # an HSM would count every C_Login towards locking the PIN
        assert len(set(messages)) == 1
    finally:
        backend.close()


@pytest.mark.integration
def test_two_tokens_share_the_one_pkcs11_thread(
    backend_for: Factory, softhsm_token: SoftHsmToken
) -> None:
    softhsm_token.add_token("second")  # same PIN, same SOFTHSM2_CONF
    first, second = backend_for(), backend_for(tokenLabel="second")
    assert first.current_key_id() != second.current_key_id()
    failures: list[BaseException] = []

    def work(backend: Pkcs11Backend) -> None:
        try:
            for _ in range(20):
                wrapped = backend.wrap(SEED)
                assert backend.unwrap(wrapped.ciphertext, wrapped.key_id, {}) == SEED
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(b,)) for b in (first, second) * 8]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert len(_pkcs11_threads()) == 1
    assert not first.owns(second.current_key_id())


def test_runtime_call_timeout_and_reentry() -> None:
    runtime = HsmRuntime()
    runtime.acquire()
    try:
        release = threading.Event()
        with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.05s"):
            runtime.run(lambda: release.wait(5), timeout=0.05)
        release.set()
        # A call made on the PKCS#11 thread itself runs in place instead of deadlocking.
        assert runtime.run(lambda: runtime.run(threading.get_ident)) == runtime.run(
            threading.get_ident
        )
    finally:
        runtime.release()
    with pytest.raises(RuntimeError, match="not running"):
        runtime.run(lambda: None)


def test_runtime_resets_at_most_once_a_second() -> None:
    now = [50.0]
    runtime = HsmRuntime(clock=lambda: now[0])
    assert runtime.reset("/x.so") is True
    now[0] += 0.5
    assert runtime.reset("/x.so") is False
    assert runtime.reset("/y.so") is True  # per library
    now[0] += 0.5
    assert runtime.reset("/x.so") is True
