"""The ``aws`` (Secrets Manager) sync provider against a real moto server.

This module runs its own moto server: IAM authentication on (after the three unauthenticated
calls that create the test's user and its access key), so a wrong credential is refused as AWS
would refuse it, and moto's request recorder on, so a test can count which AWS operations the
provider really sent (``version()`` must send ``DescribeSecret`` only, never read the value).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import sys
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
import yaml

from sealbox.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderError,
    RemoteKeyMissing,
)
from sealbox.sync.providers import RemoteRef, SecretKeyRef, StoreContext, open_provider
from sealbox.sync.providers.awssm import AwsSecretsManager, json_property
from tests.integration.processes import ManagedProcess, free_port, port_open, wait_until

REGION = "us-east-1"
T = TypeVar("T")


@dataclass
class Moto:
    """A moto server with IAM auth and its request recorder, and an admin Secrets Manager
    client holding the test user's (real, moto-issued) access key."""

    url: str
    admin: Any
    access_key: str
    secret_key: str

    def _post(self, path: str) -> None:
        request = urllib.request.Request(self.url + path, method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def record(self) -> None:
        """Forget what was recorded so far and record from now on."""
        self._post("/moto-api/recorder/reset-recording")
        self._post("/moto-api/recorder/start-recording")

    def operations(self) -> list[str]:
        """The Secrets Manager operations recorded since :meth:`record`, in order."""
        with urllib.request.urlopen(self.url + "/moto-api/recorder/download-recording") as answer:
            lines = answer.read().decode().splitlines()
        targets = [json.loads(line)["headers"].get("X-Amz-Target", "") for line in lines if line]
        return [t.split(".", 1)[1] for t in targets if t.startswith("secretsmanager.")]


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    directory = tmp_path_factory.mktemp("moto-awssm")
    port = free_port()
    process = ManagedProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=directory / "moto.log",
        env={
            "INITIAL_NO_AUTH_ACTION_COUNT": "3",  # the IAM calls below, then auth is enforced
            "MOTO_RECORDER_FILEPATH": str(directory / "recording.jsonl"),
            "AWS_ACCESS_KEY_ID": "bootstrap",
            "AWS_SECRET_ACCESS_KEY": "bootstrap",
        },
    )
    process.start()
    try:
        wait_until(lambda: port_open(port), timeout=60, what="moto server")
        url = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="sync")
        statement = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        policy = {"Version": "2012-10-17", "Statement": [statement]}
        iam.put_user_policy(UserName="sync", PolicyName="all", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="sync")["AccessKey"]
        admin = boto3.client(
            "secretsmanager",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        yield Moto(url, admin, key["AccessKeyId"], key["SecretAccessKey"])
        admin.close()
    finally:
        process.stop()


def _context(values: dict[tuple[str, str], bytes]) -> StoreContext:
    async def secret_value(ref: SecretKeyRef) -> bytes:
        return values[(ref.name, ref.key)]

    async def no_token(name: str, namespace: str | None, audiences: tuple[str, ...]) -> str:
        raise AssertionError("the aws provider asks for no ServiceAccount token")

    return StoreContext("SecretStore team-a/aws", secret_value, no_token)


def _spec(moto: Moto, **extra: Any) -> dict[str, Any]:
    return {
        "aws": {
            "service": "SecretsManager",
            "region": REGION,
            "endpointURL": moto.url,
            "auth": {
                "secretRef": {
                    "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                    "secretAccessKeySecretRef": {"name": "aws-creds", "key": "secret"},
                }
            },
            **extra,
        }
    }


def _run(moto: Moto, scenario: Callable[[AwsSecretsManager], Awaitable[T]], **kw: Any) -> T:
    """Run ``scenario`` with a provider opened on ``moto`` (``secret=`` overrides the key)."""
    secret_key = kw.pop("secret", moto.secret_key)
    context = _context(
        {
            ("aws-creds", "id"): moto.access_key.encode(),
            ("aws-creds", "secret"): secret_key
            if isinstance(secret_key, bytes)
            else secret_key.encode(),
        }
    )

    async def main() -> T:
        provider = await open_provider(_spec(moto, **kw), context)
        assert isinstance(provider, AwsSecretsManager)
        try:
            return await scenario(provider)
        finally:
            await provider.close()

    return asyncio.run(main())


def _name(prefix: str = "t") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


VALUE = "s3cr3t-" + secrets.token_hex(8)


def test_fetch_string_binary_and_properties(moto: Moto) -> None:
    plain, doc, binary = _name(), _name(), _name()
    moto.admin.create_secret(Name=plain, SecretString=VALUE)
    document = {"db": {"password": VALUE, "port": 5432}, "a.b": "dotted", "list": [1, 2]}
    moto.admin.create_secret(Name=doc, SecretString=json.dumps(document))
    moto.admin.create_secret(Name=binary, SecretBinary=b"\x00\xffraw")

    async def scenario(provider: AwsSecretsManager) -> list[bytes]:
        refs = [
            RemoteRef(plain),
            RemoteRef(binary),
            RemoteRef(doc, property="db.password"),
            RemoteRef(doc, property="db.port"),
            RemoteRef(doc, property="a.b"),
            RemoteRef(doc, property="db"),
            RemoteRef(doc, property="list"),
        ]
        values = [await provider.fetch(ref) for ref in refs]
        assert all(VALUE not in repr(value) for value in values)
        return [value.value for value in values]

    assert _run(moto, scenario) == [
        VALUE.encode(),
        b"\x00\xffraw",
        VALUE.encode(),
        b"5432",
        b"dotted",
        json.dumps({"password": VALUE, "port": 5432}, separators=(",", ":")).encode(),
        b"[1,2]",
    ]


def test_versions_and_version_reads_metadata_only(moto: Moto) -> None:
    name = _name()
    first = moto.admin.create_secret(Name=name, SecretString="one")["VersionId"]

    async def scenario(provider: AwsSecretsManager) -> None:
        moto.record()
        assert await provider.version(RemoteRef(name)) == first
        assert await provider.version(RemoteRef(name)) == first
        assert moto.operations() == ["DescribeSecret", "DescribeSecret"]  # never the value

        second = moto.admin.put_secret_value(SecretId=name, SecretString="two")["VersionId"]
        assert await provider.version(RemoteRef(name)) == second
        current = await provider.fetch(RemoteRef(name))
        assert (current.value, current.version) == (b"two", second)
        previous = await provider.fetch(RemoteRef(name, version="AWSPREVIOUS"))
        assert (previous.value, previous.version) == (b"one", first)
        assert (await provider.fetch(RemoteRef(name, version=f"uuid/{first}"))).value == b"one"
        assert (await provider.fetch(RemoteRef(name, version=first))).value == b"one"
        assert await provider.version(RemoteRef(name, version="AWSPREVIOUS")) == first
        moto.record()
        assert await provider.version(RemoteRef(name, version=f"uuid/{first}")) == first
        assert moto.operations() == []  # a pinned id cannot change: no call at all

    _run(moto, scenario)


def test_missing_key_property_and_version(moto: Moto) -> None:
    name = _name()
    moto.admin.create_secret(Name=name, SecretString=json.dumps({"user": VALUE}))

    async def scenario(provider: AwsSecretsManager) -> list[str]:
        messages = []
        for call in (
            provider.fetch(RemoteRef("no-such-secret")),
            provider.version(RemoteRef("no-such-secret")),
            provider.fetch(RemoteRef(name, property="password")),
            provider.fetch(RemoteRef(name, version="NOSTAGE")),
            provider.version(RemoteRef(name, version="NOSTAGE")),
        ):
            with pytest.raises(RemoteKeyMissing) as caught:
                await call
            messages.append(str(caught.value))
        return messages

    messages = _run(moto, scenario)
    assert "SecretStore team-a/aws: no-such-secret:" in messages[0]
    assert "no-such-secret" in messages[1]
    assert f"{name}#password: the value has no JSON property password" in messages[2]
    assert f"{name}@NOSTAGE" in messages[3]
    assert all(VALUE not in message for message in messages)


def test_wrong_credentials_refused_then_backoff_without_requests(moto: Moto) -> None:
    name = _name()
    moto.admin.create_secret(Name=name, SecretString=VALUE)
    wrong = "wrong-" + secrets.token_hex(8)

    async def scenario(provider: AwsSecretsManager) -> None:
        moto.record()
        with pytest.raises(ProviderAuthError) as caught:
            await provider.fetch(RemoteRef(name))
        assert caught.value.retry_after > 0
        for call in (provider.fetch(RemoteRef(name)), provider.version(RemoteRef(name))):
            with pytest.raises(ProviderAuthError, match="next try in"):
                await call
        assert moto.operations() == ["GetSecretValue"]  # one refusal, then no storm
        for text in (str(caught.value), repr(provider)):
            assert wrong not in text
            assert moto.access_key not in text
            assert VALUE not in text

    _run(moto, scenario, secret=wrong)


def test_fetch_map_extract(moto: Moto) -> None:
    name = _name()
    document = {"user": "app", "password": VALUE, "nested": {"k": 1}, "n": 3, "t": True}
    moto.admin.create_secret(Name=name, SecretString=json.dumps(document))
    plain = _name()
    moto.admin.create_secret(Name=plain, SecretString=VALUE)

    async def scenario(provider: AwsSecretsManager) -> dict[str, bytes]:
        with pytest.raises(ProviderError, match="not JSON") as caught:
            await provider.fetch_map(RemoteRef(plain))
        assert VALUE not in str(caught.value)
        assert await provider.fetch_map(RemoteRef(name, property="nested")) == {"k": b"1"}
        return await provider.fetch_map(RemoteRef(name))

    assert _run(moto, scenario) == {
        "user": b"app",
        "password": VALUE.encode(),
        "nested": b'{"k":1}',
        "n": b"3",
        "t": b"true",
    }


def test_find_by_path_and_regexp_across_pages(moto: Moto) -> None:
    base = _name("find")
    for leaf in ("cache", "db-c", "db-deleted", "db-a", "db-b"):  # matches last: on page 2
        moto.admin.create_secret(Name=f"{base}/{leaf}", SecretString=f"v-{leaf}")
    moto.admin.create_secret(Name=f"other-{base}/db-x", SecretString="elsewhere")
    moto.admin.delete_secret(SecretId=f"{base}/db-deleted")

    async def scenario(provider: AwsSecretsManager) -> dict[str, bytes]:
        provider.page_size = 2  # the four live secrets under the path take two pages
        moto.record()
        found = await provider.find(f"{base}/", r"/db-[ab]$")
        assert moto.operations() == ["ListSecrets", "ListSecrets"] + ["GetSecretValue"] * 2
        return found

    assert _run(moto, scenario) == {f"{base}/db-a": b"v-db-a", f"{base}/db-b": b"v-db-b"}


def test_prefix_is_put_before_keys(moto: Moto) -> None:
    prefix = _name("team") + "/"
    moto.admin.create_secret(Name=f"{prefix}db", SecretString=VALUE)

    async def scenario(provider: AwsSecretsManager) -> tuple[bytes, dict[str, bytes]]:
        value = await provider.fetch(RemoteRef("db"))
        return value.value, await provider.find(None, "^db$")

    assert _run(moto, scenario, prefix=prefix) == (VALUE.encode(), {"db": VALUE.encode()})


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"service": "SecretsManager"}, "spec.provider.aws.region"),
        ({"region": REGION, "service": "ParameterStore"}, "spec.provider.aws.service"),
        ({"region": REGION, "endpointURL": "http://example.com"}, "spec.provider.aws.endpointURL"),
        ({"region": REGION, "role": "arn:aws:iam::1:role/x"}, "spec.provider.aws.role"),
        (
            {"region": REGION, "auth": {"secretRef": {"accessKeyIDSecretRef": {"name": "x"}}}},
            "spec.provider.aws.auth.secretRef.accessKeyIDSecretRef.key",
        ),
    ],
)
def test_bad_specs_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        asyncio.run(open_provider({"aws": spec}, _context({})))
    assert field in str(caught.value)


@pytest.mark.parametrize(
    ("path", "expected"),
    [("a.b", 1), ("x.y", 2), ("x.y.z", 3), ("p", {"q": 4})],
)
def test_json_property_prefers_dotted_keys(path: str, expected: object) -> None:
    document = {"a.b": 1, "x": {"y": 2}, "x.y": {"z": 3}, "p": {"q": 4}}
    if path == "x.y":
        document = {"x": {"y": 2}}
    assert json_property(document, path) == expected


def test_the_documented_store_is_accepted() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "sync.md"
    section = doc.read_text(encoding="utf-8").split("\n## Providers: AWS Secrets Manager\n")[1]
    block = re.search(r"```yaml\n(.*?)```", section.split("\n## ", 1)[0], re.DOTALL)
    assert block is not None
    store = yaml.safe_load(block.group(1))
    provider = asyncio.run(open_provider(store["spec"]["provider"], _context({})))
    assert isinstance(provider, AwsSecretsManager)
    assert provider.endpoint.startswith("https://vpce-")
    asyncio.run(provider.close())


def test_a_credential_that_is_not_text_is_not_quoted(moto: Moto) -> None:
    async def scenario(provider: AwsSecretsManager) -> None:
        with pytest.raises(ProviderAuthError, match="aws-creds/secret is not text") as caught:
            await provider.fetch(RemoteRef("any"))
        assert "\\xff" not in str(caught.value)

    _run(moto, scenario, secret=b"\xff\xfe")
