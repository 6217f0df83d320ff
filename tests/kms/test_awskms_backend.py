"""The ``awskms`` backend against a real moto server (``python -m moto.server``).

Everything talks to moto over HTTP through the real boto3 client, except the key-state errors
moto does not produce (see :func:`test_error_codes_map_to_rejected_or_unavailable`).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from pydantic import ValidationError

from sealbox.errors import (
    AccessDenied,
    BackendRejected,
    BackendUnavailable,
    ConfigError,
    SealboxError,
)
from sealbox.kms.backends import (
    BlockingBackend,
    ThreadedBackend,
    awskms,
    backend_type,
    call_deadline,
    configure_backend,
)
from sealbox.kms.backends.awskms import AwsKmsBackend, Config, build, parse_key_id
from sealbox.kms.backends.awskms import _backend as awskms_backend
from sealbox.kms.plugin import parse_plugin_config
from tests.integration.backends import awskms as fixtures
from tests.integration.backends.awskms import REGION, MotoKMS
from tests.integration.harness import BackendHarness
from tests.integration.processes import free_port

moto_kms = fixtures.moto_kms
aws_env = fixtures.aws_env
awskms_harness = fixtures.awskms_harness

SEED = bytes(range(32))
OTHER_REGION = "eu-west-1"
MISSING_KEY = "11111111-2222-3333-4444-555555555555"
Factory = Callable[..., AwsKmsBackend]


def _config(key_id: str, endpoint: str | None, **extra: Any) -> Config:
    document: dict[str, Any] = {
        "type": "awskms",
        "keyId": key_id,
        "region": REGION,
        "timeoutSeconds": 2,
        "maxAttempts": 1,
        **extra,
    }
    if endpoint is not None:
        document["endpointUrl"] = endpoint
    return Config.model_validate(document)


@pytest.fixture
def backend_for(moto_kms: MotoKMS, aws_env: dict[str, str]) -> Iterator[Factory]:
    """Build backends on moto (or on ``endpoint=``) and close them all afterwards."""
    built: list[AwsKmsBackend] = []

    def make(key_id: str, *, endpoint: str | None = moto_kms.url, **extra: Any) -> AwsKmsBackend:
        backend = build(_config(key_id, endpoint, **extra), base_dir=Path.cwd())
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()


@pytest.fixture
def dead_endpoint() -> str:
    """A loopback URL where nothing listens (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}"


# --- round trips and key_id --------------------------------------------------------------------


@pytest.mark.integration
def test_round_trip_through_an_alias(moto_kms: MotoKMS, backend_for: Factory) -> None:
    alias, arn = moto_kms.key_with_alias()
    backend = backend_for(alias)
    blocking: BlockingBackend = backend  # the plugin serves it on threads of its own
    assert blocking.kind == "awskms"
    assert backend.threads >= 2
    assert backend.label == f"awskms {alias} in {REGION}"

    key_id = backend.current_key_id()
    wrapped = backend.wrap(SEED)

    assert key_id == wrapped.key_id == f"awskms:{arn}"
    assert wrapped.ciphertext[:1] == awskms.FORMAT_V1
    assert SEED not in wrapped.ciphertext
    assert dict(wrapped.annotations) == {}
    assert backend.owns(key_id)
    assert backend.unwrap(wrapped.ciphertext, wrapped.key_id, wrapped.annotations) == SEED
    assert backend.current_key_id() == key_id  # stable while the KEK is unchanged


@pytest.mark.integration
def test_key_id_is_the_real_arn_whatever_form_is_configured(
    moto_kms: MotoKMS, backend_for: Factory
) -> None:
    alias, arn = moto_kms.key_with_alias()
    account = arn.split(":")[4]
    forms = [
        alias,
        f"arn:aws:kms:{REGION}:{account}:{alias}",
        arn.rsplit("/", 1)[1],
        arn,
    ]
    key_ids = {backend_for(form).current_key_id() for form in forms}
    assert key_ids == {f"awskms:{arn}"}
    # Each unwraps what another wrapped: the same KEK whatever its name.
    wrapped = backend_for(forms[0]).wrap(SEED)
    assert backend_for(forms[3]).unwrap(wrapped.ciphertext, wrapped.key_id, {}) == SEED


@pytest.mark.integration
def test_moving_the_alias_changes_key_id_and_old_ciphertext_still_unwraps(
    moto_kms: MotoKMS, backend_for: Factory
) -> None:
    alias, old_arn = moto_kms.key_with_alias()
    backend = backend_for(alias)
    old = backend.wrap(SEED)
    assert old.key_id == f"awskms:{old_arn}"

    new_arn = moto_kms.create_key()
    moto_kms.move_alias(alias, new_arn)
    # Wraps keep using the resolved ARN until the next refresh (the plugin's health probe), so
    # a key_id always names the key that really wrapped.
    assert backend.wrap(SEED).key_id == old.key_id

    assert backend.current_key_id() == f"awskms:{new_arn}"
    new = backend.wrap(SEED)
    assert new.key_id == f"awskms:{new_arn}" != old.key_id
    assert backend.unwrap(old.ciphertext, old.key_id, {}) == SEED
    assert backend.unwrap(new.ciphertext, new.key_id, {}) == SEED
    # A fresh process (the alias no longer names the old key) still unwraps the old data.
    assert backend_for(alias).unwrap(old.ciphertext, old.key_id, {}) == SEED


@pytest.mark.integration
def test_harness_rotate_stop_and_start(awskms_harness: BackendHarness, aws_env: object) -> None:
    harness = awskms_harness
    assert harness.kind == "awskms"
    assert harness.stop is not None
    assert harness.start is not None
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(harness.env)
    backend = build(Config.model_validate(harness.config), base_dir=Path.cwd())
    try:
        before = backend.wrap(SEED)
        assert backend.current_key_id() == before.key_id

        harness.rotate()
        assert backend.current_key_id() != before.key_id
        after = backend.wrap(SEED)
        assert after.key_id != before.key_id

        harness.stop()
        with pytest.raises(BackendUnavailable, match="cannot reach AWS KMS"):
            backend.unwrap(before.ciphertext, before.key_id, {})
        with pytest.raises(BackendUnavailable):
            backend.current_key_id()
        with pytest.raises(BackendUnavailable):
            backend.wrap(SEED)

        harness.start()  # same keys: the proxy was cut, moto kept running
        assert backend.unwrap(before.ciphertext, before.key_id, {}) == SEED
        assert backend.unwrap(after.ciphertext, after.key_id, {}) == SEED
        assert backend.current_key_id() == after.key_id
    finally:
        backend.close()


@pytest.mark.integration
def test_concurrent_wraps_share_one_client(moto_kms: MotoKMS, backend_for: Factory) -> None:
    alias, arn = moto_kms.key_with_alias()
    backend = backend_for(alias)
    seeds = [bytes([i]) * 32 for i in range(40)]
    with ThreadPoolExecutor(max_workers=backend.threads) as pool:
        wrapped = list(pool.map(backend.wrap, seeds))
        unwrapped = list(pool.map(lambda w: backend.unwrap(w.ciphertext, w.key_id, {}), wrapped))
    assert unwrapped == seeds
    assert {w.key_id for w in wrapped} == {f"awskms:{arn}"}


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("context", [{"sealbox.io/purpose": "something-else"}, {}])
def test_another_encryption_context_is_rejected(
    moto_kms: MotoKMS, backend_for: Factory, context: dict[str, str]
) -> None:
    alias, _ = moto_kms.key_with_alias()
    wrapped = backend_for(alias).wrap(SEED)
    other = backend_for(alias, encryptionContext=context)
    with pytest.raises(BackendRejected, match="does not unwrap") as caught:
        other.unwrap(wrapped.ciphertext, wrapped.key_id, {})
    assert "Exception" not in str(caught.value)  # no oracle: not which check failed


@pytest.mark.integration
def test_the_configured_context_is_sent(moto_kms: MotoKMS, backend_for: Factory) -> None:
    alias, arn = moto_kms.key_with_alias()
    context = {"cluster": "prod-1", "sealbox.io/purpose": "kubernetes-kms"}
    wrapped = backend_for(alias, encryptionContext=context).wrap(SEED)
    blob = wrapped.ciphertext[1:]
    answer = moto_kms.admin.decrypt(CiphertextBlob=blob, KeyId=arn, EncryptionContext=context)
    assert answer["Plaintext"] == SEED


def _tampered(ciphertext: bytes) -> list[bytes]:
    last = len(ciphertext) - 1
    return [
        ciphertext[:last] + bytes([ciphertext[last] ^ 1]),  # the GCM tag / body
        ciphertext[:-16],
        ciphertext + b"\x00",
        ciphertext[:5] + bytes([ciphertext[5] ^ 0x20]) + ciphertext[6:],  # the key reference
    ]


@pytest.mark.integration
def test_tampered_ciphertext_is_rejected(moto_kms: MotoKMS, backend_for: Factory) -> None:
    alias, _ = moto_kms.key_with_alias()
    backend = backend_for(alias)
    wrapped = backend.wrap(SEED)
    for broken in _tampered(wrapped.ciphertext):
        with pytest.raises(BackendRejected) as caught:
            backend.unwrap(broken, wrapped.key_id, {})
        message = str(caught.value)
        assert broken.hex() not in message
        assert base64.b64encode(broken[1:]).decode() not in message


@pytest.mark.integration
def test_ciphertext_under_another_key_is_rejected(moto_kms: MotoKMS, backend_for: Factory) -> None:
    """moto answers AccessDeniedException (with no message) where AWS answers
    IncorrectKeyException: either way the ciphertext is at fault, not the plugin's access."""
    alias, _ = moto_kms.key_with_alias()
    _, other_arn = moto_kms.key_with_alias()
    wrapped = backend_for(alias).wrap(SEED)
    with pytest.raises(BackendRejected, match="does not unwrap"):
        backend_for(alias).unwrap(wrapped.ciphertext, f"awskms:{other_arn}", {})


@pytest.mark.integration
def test_a_key_policy_denying_the_plugin_is_access_denied(
    moto_kms: MotoKMS, backend_for: Factory
) -> None:
    """moto enforces a key policy that denies DescribeKey: the plugin's principal is refused,
    which is not the request's fault (the plugin answers UNAVAILABLE, and is not ready)."""
    arn = moto_kms.create_key()
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*"}
        ],
    }
    moto_kms.admin.put_key_policy(
        KeyId=arn.rsplit("/", 1)[1], PolicyName="default", Policy=json.dumps(deny)
    )
    with pytest.raises(AccessDenied, match="AccessDeniedException") as caught:
        backend_for(arn).current_key_id()
    assert isinstance(caught.value, BackendUnavailable)
    assert arn in str(caught.value)


@pytest.mark.integration
def test_foreign_input_is_rejected_before_calling_aws(
    backend_for: Factory, dead_endpoint: str
) -> None:
    # The endpoint is dead: reaching AWS would raise BackendUnavailable, not BackendRejected.
    backend = backend_for(MISSING_KEY, endpoint=dead_endpoint)
    arn = f"arn:aws:kms:{REGION}:123456789012:key/{MISSING_KEY}"
    key_id = f"awskms:{arn}"
    for ciphertext in (b"", b"\x01", b"\x02" + b"x" * 100, b"\x01" + b"x" * 6145):
        with pytest.raises(BackendRejected, match="not in the awskms format"):
            backend.unwrap(ciphertext, key_id, {})
    for foreign in ("vault:v1", "awskms:alias/k8s", f"awskms:{arn}#bad material", "local:ab"):
        assert not backend.owns(foreign)
        with pytest.raises(BackendRejected, match="not an awskms key_id"):
            backend.unwrap(b"\x01" + b"x" * 100, foreign, {})
    elsewhere = f"awskms:arn:aws:kms:{OTHER_REGION}:123456789012:key/{MISSING_KEY}"
    assert not backend.owns(elsewhere)
    with pytest.raises(BackendRejected, match=OTHER_REGION):
        backend.unwrap(b"\x01" + b"x" * 100, elsewhere, {})
    for plaintext in (b"", b"x" * 4097):
        with pytest.raises(BackendRejected, match="1 to 4096 bytes"):
            backend.wrap(plaintext)


@pytest.mark.integration
@pytest.mark.parametrize(
    "key",
    [
        "alias/sealbox-test-does-not-exist",
        MISSING_KEY,
        f"arn:aws:kms:{REGION}:123456789012:key/{MISSING_KEY}",
    ],
)
def test_missing_key_is_rejected_at_first_use(backend_for: Factory, key: str) -> None:
    backend = backend_for(key)  # build makes no AWS call: the plugin can start while AWS is down
    with pytest.raises(BackendRejected, match="NotFoundException") as caught:
        backend.current_key_id()
    assert key in str(caught.value)
    with pytest.raises(BackendRejected, match="NotFoundException"):
        backend.wrap(SEED)


@pytest.mark.integration
def test_unusable_keys_fail_the_probe(moto_kms: MotoKMS, backend_for: Factory) -> None:
    disabled = moto_kms.create_key()
    moto_kms.admin.disable_key(KeyId=disabled.rsplit("/", 1)[1])
    with pytest.raises(BackendRejected, match="is Disabled"):
        backend_for(disabled).current_key_id()

    doomed = moto_kms.create_key()
    moto_kms.admin.schedule_key_deletion(KeyId=doomed.rsplit("/", 1)[1], PendingWindowInDays=7)
    with pytest.raises(BackendRejected, match="is PendingDeletion"):
        backend_for(doomed).wrap(SEED)

    signing = moto_kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    with pytest.raises(BackendRejected, match="SYMMETRIC_DEFAULT key for ENCRYPT_DECRYPT"):
        backend_for(signing).current_key_id()


# --- outages -------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_hung_endpoint_answers_within_the_call_deadline(backend_for: Factory) -> None:
    """10 s x 3 attempts configured, but the KMS call being served must be answered within 1 s:
    the attempt reads for the time left, and botocore does not retry without time for it."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        backend = backend_for(MISSING_KEY, endpoint=endpoint, timeoutSeconds=10, maxAttempts=3)
        started = time.monotonic()
        with call_deadline(started + 1.0), pytest.raises(BackendUnavailable) as caught:
            backend.current_key_id()
        assert time.monotonic() - started < 1.0
        assert "no answer in time, at most 3 attempt(s) of 10s, within the caller's deadline" in (
            str(caught.value)
        )
        with call_deadline(time.monotonic()), pytest.raises(BackendUnavailable, match="no time"):
            backend.current_key_id()


@pytest.mark.integration
def test_unreachable_endpoint_is_unavailable_within_the_timeout(
    backend_for: Factory, dead_endpoint: str
) -> None:
    backend = backend_for("alias/k8s", endpoint=dead_endpoint, timeoutSeconds=1, maxAttempts=2)
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        backend.current_key_id()
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert dead_endpoint in message
    assert REGION in message
    assert "connection failed, 2 attempt(s)" in message
    arn = f"arn:aws:kms:{REGION}:123456789012:key/{MISSING_KEY}"
    with pytest.raises(BackendUnavailable, match="Decrypt"):
        backend.unwrap(b"\x01" + b"x" * 100, f"awskms:{arn}", {})


@pytest.mark.integration
def test_silent_endpoint_times_out(backend_for: Factory) -> None:
    # The kernel completes the TCP handshake from the backlog; nobody ever answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        backend = backend_for("alias/k8s", endpoint=endpoint, timeoutSeconds=0.5, maxAttempts=1)
        started = time.monotonic()
        with pytest.raises(BackendUnavailable, match=r"no answer within 0\.5s") as caught:
            backend.current_key_id()
        elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 5
    assert endpoint in str(caught.value)


@pytest.mark.integration
def test_missing_credentials_are_unavailable_until_they_appear(
    moto_kms: MotoKMS, backend_for: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    alias, arn = moto_kms.key_with_alias()
    saved = {name: fixtures.AWS_TEST_ENV[name] for name in ("AWS_ACCESS_KEY_ID",)}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setattr(awskms_backend, "_CLIENT_RETRY_SECONDS", 0.05)
    backend = backend_for(alias)  # the plugin starts even before credentials exist
    with pytest.raises(BackendUnavailable, match="no AWS credentials found"):
        backend.current_key_id()
    with pytest.raises(BackendUnavailable, match="no AWS credentials found"):
        backend.wrap(SEED)

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, saved["AWS_ACCESS_KEY_ID"])
    time.sleep(0.1)
    assert backend.current_key_id() == f"awskms:{arn}"  # recovered without a restart
    wrapped = backend.wrap(SEED)
    assert backend.unwrap(wrapped.ciphertext, wrapped.key_id, {}) == SEED


@pytest.mark.integration
def test_closed_backend_is_unavailable(moto_kms: MotoKMS, backend_for: Factory) -> None:
    alias, _ = moto_kms.key_with_alias()
    backend = backend_for(alias)
    wrapped = backend.wrap(SEED)
    backend.close()
    with pytest.raises(BackendUnavailable, match="closed"):
        backend.unwrap(wrapped.ciphertext, wrapped.key_id, {})


# --- error codes moto cannot produce --------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize(
    ("operation", "code", "status", "expected"),
    [
        ("encrypt", "DisabledException", 400, BackendRejected),
        ("decrypt", "DisabledException", 400, BackendRejected),
        ("encrypt", "KMSInvalidStateException", 400, BackendRejected),
        ("decrypt", "NotFoundException", 400, BackendRejected),
        ("decrypt", "IncorrectKeyException", 400, BackendRejected),
        ("encrypt", "AccessDeniedException", 400, AccessDenied),
        ("encrypt", "UnrecognizedClientException", 400, AccessDenied),
        ("encrypt", "KMSInternalException", 500, BackendUnavailable),
        ("decrypt", "KeyUnavailableException", 500, BackendUnavailable),
        ("encrypt", "DependencyTimeoutException", 503, BackendUnavailable),
        ("decrypt", "ThrottlingException", 400, BackendUnavailable),
        ("encrypt", "SomethingNew", 502, BackendUnavailable),
    ],
)
def test_error_codes_map_to_rejected_or_unavailable(
    moto_kms: MotoKMS,
    backend_for: Factory,
    operation: str,
    code: str,
    status: int,
    expected: type[SealboxError],
) -> None:
    """moto does not enforce key state (a disabled key still encrypts), and never throttles or
    fails internally, so these answers are stubbed with botocore's ``Stubber`` on the backend's
    real client. This is the only place in the file where AWS is not moto."""
    alias, _ = moto_kms.key_with_alias()
    backend = backend_for(alias)
    wrapped = backend.wrap(SEED)  # resolves the key on moto first
    with Stubber(backend.client) as stubber:
        stubber.add_client_error(
            operation,
            service_error_code=code,
            service_message="stubbed refusal",
            http_status_code=status,
        )
        call: Callable[[], object] = (
            (lambda: backend.wrap(SEED))
            if operation == "encrypt"
            else (lambda: backend.unwrap(wrapped.ciphertext, wrapped.key_id, {}))
        )
        with pytest.raises(expected) as caught:
            call()
        stubber.assert_no_pending_responses()
    message = str(caught.value)
    assert alias in message
    if code == "IncorrectKeyException":
        assert "does not unwrap" in message
        assert code not in message  # no oracle
    else:
        assert code in message


@pytest.mark.integration
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "User: arn:aws:iam::123456789012:user/sealbox is not authorized to perform: "
            "kms:Decrypt on resource: the key because no identity-based policy allows it",
            AccessDenied,
        ),
        (
            "The ciphertext refers to a customer master key that does not exist, does not "
            "exist in this region, or you are not allowed to access.",
            BackendRejected,
        ),
    ],
    ids=["principal-not-authorized", "ciphertext-names-a-key-out-of-reach"],
)
def test_a_decrypt_denial_blames_the_principal_only_when_aws_says_so(
    moto_kms: MotoKMS, backend_for: Factory, message: str, expected: type[SealboxError]
) -> None:
    """Stubbed (see above): moto never words its denials."""
    alias, _ = moto_kms.key_with_alias()
    backend = backend_for(alias)
    wrapped = backend.wrap(SEED)
    with Stubber(backend.client) as stubber:
        stubber.add_client_error(
            "decrypt",
            service_error_code="AccessDeniedException",
            service_message=message,
            http_status_code=400,
        )
        with pytest.raises(expected) as caught:
            backend.unwrap(wrapped.ciphertext, wrapped.key_id, {})
    assert type(caught.value) is expected


@pytest.mark.integration
def test_encrypt_under_another_key_is_refused(moto_kms: MotoKMS, backend_for: Factory) -> None:
    """Stubbed (see above): AWS never answers Encrypt with another key than asked for."""
    alias, _ = moto_kms.key_with_alias()
    _, other = moto_kms.key_with_alias()
    backend = backend_for(alias)
    backend.current_key_id()
    with Stubber(backend.client) as stubber:
        stubber.add_response(
            "encrypt",
            {
                "CiphertextBlob": b"x" * 100,
                "KeyId": other,
                "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            },
        )
        with pytest.raises(BackendRejected, match="Encrypt used key"):
            backend.wrap(SEED)


def _described(arn: str, material: str | None) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "KeyId": arn.rsplit("/", 1)[1],
        "Arn": arn,
        "CreationDate": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "Enabled": True,
        "KeyState": "Enabled",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeySpec": "SYMMETRIC_DEFAULT",
    }
    if material is not None:
        meta["CurrentKeyMaterialId"] = material
    return {"KeyMetadata": meta}


@pytest.mark.integration
def test_key_material_rotation_changes_key_id(moto_kms: MotoKMS, backend_for: Factory) -> None:
    """AWS reports ``CurrentKeyMaterialId`` and moto does not, so DescribeKey is stubbed here;
    Encrypt and Decrypt still go to moto. Rotation of the material must re-seed."""
    alias, arn = moto_kms.key_with_alias()
    backend = backend_for(alias)
    first, second = "a" * 64, "b" * 64
    with Stubber(backend.client) as stubber:
        for material in (first, first, second, None):
            stubber.add_response("describe_key", _described(arn, material), {"KeyId": alias})
        assert backend.current_key_id() == f"awskms:{arn}#{first}"
        assert backend.current_key_id() == f"awskms:{arn}#{first}"
        assert backend.current_key_id() == f"awskms:{arn}#{second}"
        assert backend.current_key_id() == f"awskms:{arn}#{second}"  # omitted: kept, no flap
        stubber.assert_no_pending_responses()
    wrapped = backend.wrap(SEED)
    assert wrapped.key_id == f"awskms:{arn}#{second}"
    assert parse_key_id(wrapped.key_id) == (arn, second)
    assert backend.owns(wrapped.key_id)
    assert backend.unwrap(wrapped.ciphertext, wrapped.key_id, {}) == SEED
    # Older key_ids of the same key still unwrap: the ARN alone selects the key.
    assert backend.unwrap(wrapped.ciphertext, f"awskms:{arn}#{first}", {}) == SEED
    assert backend.unwrap(wrapped.ciphertext, f"awskms:{arn}", {}) == SEED


# --- credentials and secrets ----------------------------------------------------------------------


@pytest.mark.integration
def test_profile_from_the_shared_config(
    moto_kms: MotoKMS, backend_for: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    alias, arn = moto_kms.key_with_alias()
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[sealbox]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"
    )
    config_file = tmp_path / "config"
    failing = shutil.which("false")
    assert failing is not None
    config_file.write_text(
        "[profile sealbox]\nregion = us-east-1\n"
        f"[profile broken]\nregion = us-east-1\ncredential_process = {failing}\n"
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_file))

    backend = backend_for(alias, profile="sealbox")
    assert backend.current_key_id() == f"awskms:{arn}"
    assert "profile-secret" not in repr(backend)

    with pytest.raises(ConfigError) as caught:
        backend_for(alias, profile="missing")
    assert [issue.path for issue in caught.value.issues] == ["profile"]

    # A credential source that fails is transient (it may work later), never a crash.
    broken = backend_for(alias, profile="broken")
    with pytest.raises(BackendUnavailable, match="loading AWS credentials failed") as failed:
        broken.current_key_id()
    assert str(failed.value) == (
        f"awskms {alias} in {REGION}: loading AWS credentials failed (custom-process)"
    )


@pytest.mark.integration
def test_no_credentials_or_secrets_in_reprs_errors_or_logs(
    moto_kms: MotoKMS,
    backend_for: Factory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    dead_endpoint: str,
) -> None:
    access_key, secret_key, token = "AKIDLEAKCHECK0001", "s3cr3t-leak-check-value", "tok-leak-9"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    caplog.set_level(logging.DEBUG)
    alias, _ = moto_kms.key_with_alias()
    backend = backend_for(alias)
    texts = [repr(backend.config), repr(backend), backend.label]
    wrapped = backend.wrap(SEED)
    backend.unwrap(wrapped.ciphertext, wrapped.key_id, {})
    texts.append(repr(wrapped))
    failures: list[Callable[[], object]] = [
        lambda: backend_for(alias, encryptionContext={}).unwrap(
            wrapped.ciphertext, wrapped.key_id, {}
        ),
        lambda: backend.unwrap(_tampered(wrapped.ciphertext)[0], wrapped.key_id, {}),
        lambda: backend_for(alias, endpoint=dead_endpoint).wrap(SEED),
        lambda: backend_for("alias/sealbox-test-missing").wrap(SEED),
    ]
    for failure in failures:
        with pytest.raises(SealboxError) as caught:
            failure()
        texts.append(str(caught.value))
    texts.extend(record.getMessage() for record in caplog.records)
    joined = "\n".join(texts)
    assert "cannot reach AWS KMS" in joined  # the failures really happened
    blob = wrapped.ciphertext[1:]
    for needle in (
        access_key,
        secret_key,
        token,
        SEED.hex(),
        base64.b64encode(SEED).decode(),
        blob.hex(),
        base64.b64encode(blob).decode(),
    ):
        assert needle not in joined


# --- configuration -------------------------------------------------------------------------------


def test_defaults_and_accepted_forms() -> None:
    config = Config.model_validate({"type": "awskms", "keyId": "alias/k8s", "region": "eu-west-1"})
    assert config.encryption_context == {"sealbox.io/purpose": "kubernetes-kms"}
    assert config.endpoint_url is None
    assert config.timeout_seconds > 0
    assert config.max_attempts >= 1
    for key_id in (
        "alias/k8s/secrets_1",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "mrk-1234abcd12ab34cd56ef1234567890ab",
        "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:eu-west-1:111122223333:alias/k8s",
    ):
        assert Config(type="awskms", key_id=key_id, region="eu-west-1").key_id == key_id
    for url in ("http://127.0.0.1:4566/", "http://localhost:4566", "http://[::1]:4566"):
        endpoint = Config(type="awskms", key_id="alias/k8s", region="eu-west-1", endpoint_url=url)
        assert endpoint.endpoint_url == url.rstrip("/")
    gov = Config(type="awskms", key_id="alias/k8s", region="us-gov-west-1")
    assert gov.region == "us-gov-west-1"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"keyId": None}, "keyId"),
        ({"keyId": "kms key please"}, "keyId"),
        ({"keyId": "alias/aws/ebs"}, "keyId"),
        ({"keyId": "arn:aws:kms:eu-west-1:111122223333:alias/k8s"}, "keyId"),
        ({"region": "Mars"}, "region"),
        ({"endpointUrl": "ftp://kms.example.com"}, "endpointUrl"),
        ({"endpointUrl": "http://kms.eu-west-1.amazonaws.com"}, "endpointUrl"),
        ({"endpointUrl": "https://AKID:hunter2@kms.example.com"}, "endpointUrl"),
        ({"endpointUrl": "https://kms.example.com/?x=1"}, "endpointUrl"),
        ({"encryptionContext": {"": "x"}}, "encryptionContext"),
        ({"encryptionContext": ["a"]}, "encryptionContext"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"timeoutSeconds": 600}, "timeoutSeconds"),
        ({"maxAttempts": 0}, "maxAttempts"),
        ({"profile": "two words"}, "profile"),
        ({"secretAccessKey": "hunter2"}, "secretAccessKey"),
        ({"type": "vault"}, "type"),
    ],
)
def test_invalid_config_names_the_field(changes: dict[str, Any], field: str) -> None:
    document: dict[str, Any] = {"type": "awskms", "keyId": "alias/k8s", "region": "us-west-2"}
    document.update(changes)
    document = {key: value for key, value in document.items() if value is not None}
    with pytest.raises(ValidationError) as caught:
        Config.model_validate(document)
    assert [error["loc"][0] for error in caught.value.errors()] == [field]
    assert "hunter2" not in str(caught.value)


def test_plugin_yaml_errors_carry_the_backend_path() -> None:
    text = """
apiVersion: sealbox.io/v1alpha1
kind: KMSPluginConfiguration
socket: /run/sealbox/kms.sock
backends:
  primary: {type: awskms, keyId: alias/k8s, region: eu-west-1, timeoutSeconds: -1}
"""
    with pytest.raises(ConfigError) as caught:
        parse_plugin_config(text, "plugin.yaml", base_dir=Path.cwd())
    assert [issue.path for issue in caught.value.issues] == ["backends.primary.timeoutSeconds"]


def test_registry_loads_the_module(aws_env: dict[str, str]) -> None:
    assert backend_type("awskms") is awskms.KIND
    assert awskms.KIND.config is Config
    configured = configure_backend({"type": "awskms", "keyId": "alias/k8s", "region": "eu-west-1"})
    assert isinstance(configured.settings, Config)
    served = configured.serve(Path.cwd())
    try:
        assert served.label == "awskms alias/k8s in eu-west-1"
        assert isinstance(served, ThreadedBackend)  # boto3 blocks: the plugin awaits threads
        backend = served.backend
        assert isinstance(backend, AwsKmsBackend)
        assert backend.endpoint == "https://kms.eu-west-1.amazonaws.com"
    finally:
        served.close()
