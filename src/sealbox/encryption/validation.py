"""The decoded EncryptionConfiguration: the apiserver's rules V1-V23, advice, and the model.

Works on the *decoded* file: :class:`RawConfig` and friends mirror the Go structs after strict
decoding and defaulting, and can hold what the frozen model cannot (an unknown KMS apiVersion, a
provider element naming two types). ``None`` in a list marks an element whose decoding already
failed; rules skip it. Rules about resource strings live in :mod:`sealbox.encryption.resources`.
:func:`to_model` turns a decoded file without errors into the frozen model. Messages never
contain a key's secret, not even part of it.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

from sealbox.duration import NANOSECONDS_PER_SECOND
from sealbox.encryption import resources as gr_rules
from sealbox.encryption.keygen import KEY_SIZES
from sealbox.encryption.model import (
    DEFAULT_KMS_TIMEOUT_SECONDS,
    EncryptionConfiguration,
    Key,
    KMSConfiguration,
    ProviderConfiguration,
    ProviderType,
    ResourceConfiguration,
)
from sealbox.errors import ConfigIssue

__all__ = [
    "PROVIDER_TYPES",
    "RawConfig",
    "RawEntry",
    "RawKMS",
    "RawKey",
    "RawProvider",
    "advise",
    "decode_secret",
    "to_model",
    "validate",
]

PROVIDER_TYPES: tuple[ProviderType, ...] = ("aesgcm", "aescbc", "secretbox", "identity", "kms")
_NO_PROVIDER = (
    "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, Secretbox, "
    "Identity"
)
_MANY_PROVIDERS = (
    "more than one provider specified in a single element, should split into different list "
    "elements"
)


@dataclass
class RawKey:
    path: str
    name: str | None = ""  # None: not a string, reported while decoding
    secret: str | None = field(default="", repr=False)


@dataclass
class RawKMS:
    path: str
    api_version: str = "v1"
    api_version_set: bool = False
    name: str | None = ""
    endpoint: str | None = ""
    cachesize: int | None = None
    timeout_ns: int = int(DEFAULT_KMS_TIMEOUT_SECONDS * NANOSECONDS_PER_SECOND)


@dataclass
class RawProvider:
    path: str
    types: list[str] = field(default_factory=list)
    null_types: list[str] = field(default_factory=list)
    keys: dict[str, list[RawKey | None] | None] = field(default_factory=dict)
    kms: RawKMS | None = None


@dataclass
class RawEntry:
    path: str
    resources: list[str | None] | None = None
    providers: list[RawProvider | None] | None = None


@dataclass
class RawConfig:
    entries: list[RawEntry | None] | None = None
    legacy_kind: bool = False


def decode_secret(secret: str) -> bytes | None:
    """Decode like Go's ``base64.StdEncoding`` (padded; CR and LF ignored); None if invalid."""
    cleaned = secret.replace("\r", "").replace("\n", "")
    try:
        return binascii.a2b_base64(cleaned.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def validate(config: RawConfig, *, reload: bool = False) -> list[ConfigIssue]:
    """Every apiserver rule V1-V23 (``reload``: --encryption-provider-config-automatic-reload)."""
    if config.entries is None:
        return []
    if not config.entries:
        return [ConfigIssue("resources", "at least one resources is required")]
    issues: list[ConfigIssue] = []
    kms_names: set[str] = set()
    for entry in config.entries:
        if entry is not None:
            issues += _check_entry(entry, kms_names, reload)
    issues += gr_rules.check_masking(
        [(f"{e.path}.resources", e.resources) for e in config.entries if e and e.resources]
    )
    return issues


def _check_entry(entry: RawEntry, kms_names: set[str], reload: bool) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for name, items in (("resources", entry.resources), ("providers", entry.providers)):
        if items is not None and not items:
            path = f"{entry.path}.{name}"
            issues.append(ConfigIssue(path, f"at least one {path} is required"))
    if entry.resources:
        issues += gr_rules.check_resource_list(entry.resources, f"{entry.path}.resources")
    for provider in entry.providers or ():
        if provider is not None:
            issues += _check_provider(provider, kms_names, reload)
    return issues


def _check_provider(provider: RawProvider, kms_names: set[str], reload: bool) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if not provider.types:
        hint = ""
        if provider.null_types:
            nulls = ", ".join(provider.null_types)
            hint = f" ({nulls} is null, which counts as absent: write e.g. 'identity: {{}}')"
        issues.append(ConfigIssue(provider.path, _NO_PROVIDER + hint))
    elif len(provider.types) > 1:
        found = ", ".join(provider.types)
        issues.append(ConfigIssue(provider.path, f"{_MANY_PROVIDERS} (found {found})"))
    for kind, keys in provider.keys.items():
        if keys is not None:
            issues += _check_keys(keys, f"{provider.path}.{kind}.keys", KEY_SIZES[kind])
    if provider.kms is not None:
        issues += _check_kms(provider.kms, kms_names, reload)
        kms_names.add(provider.kms.name or "")
    return issues


def _check_keys(keys: list[RawKey | None], path: str, sizes: tuple[int, ...]) -> list[ConfigIssue]:
    if not keys:
        return [ConfigIssue(path, "at least one keys is required")]
    issues: list[ConfigIssue] = []
    for key in keys:
        if key is not None:
            issues += _check_key(key, sizes)
    return issues


def _check_key(key: RawKey, sizes: tuple[int, ...]) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    if key.name == "":
        issues.append(ConfigIssue(f"{key.path}.name", "name is a mandatory field for a key"))
    secret_path = f"{key.path}.secret"
    if key.secret is None:
        return issues
    if key.secret == "":
        issues.append(ConfigIssue(secret_path, "secret is a mandatory field for a key"))
        return issues
    material = decode_secret(key.secret)
    if material is None:
        issues.append(
            ConfigIssue(secret_path, "secrets must be base64 encoded (standard alphabet, padded)")
        )
    elif len(material) not in sizes:
        expected = " ".join(str(size) for size in sizes)
        issues.append(
            ConfigIssue(
                secret_path,
                f"secret is not of the expected length, got {len(material)}, "
                f"expected one of [{expected}]",
            )
        )
    return issues


def _check_kms(kms: RawKMS, kms_names: set[str], reload: bool) -> list[ConfigIssue]:
    issues = _check_kms_name(kms, kms_names, reload)
    if kms.timeout_ns <= 0:
        issues.append(ConfigIssue(f"{kms.path}.timeout", "timeout should be a positive value"))
    endpoint_problem = _endpoint_problem(kms.endpoint)
    if endpoint_problem is not None:
        issues.append(ConfigIssue(f"{kms.path}.endpoint", endpoint_problem))
    issues += _check_kms_cachesize(kms)
    if kms.api_version not in ("v1", "v2"):
        issues.append(
            ConfigIssue(
                f"{kms.path}.apiVersion",
                f'unsupported apiVersion "{kms.api_version}" for KMS provider, '
                "only v1 and v2 are supported",
            )
        )
    return issues


def _check_kms_name(kms: RawKMS, kms_names: set[str], reload: bool) -> list[ConfigIssue]:
    path = f"{kms.path}.name"
    if kms.name is None:
        return []
    if kms.name == "":
        return [ConfigIssue(path, "name is a mandatory field for a provider")]
    issues: list[ConfigIssue] = []
    if kms.api_version != "v1" and ":" in kms.name:
        message = f"invalid KMS provider name {kms.name}, must not contain ':'"
        issues.append(ConfigIssue(path, message))
    if (reload or kms.api_version != "v1") and kms.name in kms_names:
        message = f"duplicate KMS provider name {kms.name}, names must be unique"
        issues.append(ConfigIssue(path, message))
    return issues


def _check_kms_cachesize(kms: RawKMS) -> list[ConfigIssue]:
    path = f"{kms.path}.cachesize"
    if kms.api_version != "v1" and kms.cachesize is not None:
        return [ConfigIssue(path, "cachesize is not supported in v2; remove it")]
    if kms.api_version == "v1" and kms.cachesize == 0:
        return [ConfigIssue(path, "cachesize should be a positive value, or negative to disable")]
    return []


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _go_url_scheme(url: str) -> str:
    """The scheme Go's ``url.Parse`` finds (lower-cased); ValueError for Go's parse errors."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in url):
        raise ValueError("net/url: invalid control character in URL")
    scheme, rest = "", url.split("#", 1)[0]
    for i, char in enumerate(rest):
        letter = char.isascii() and char.isalpha()
        other = (char.isascii() and char.isdigit()) or char in "+-."
        if letter or (other and i > 0):
            continue
        if char == ":":
            if i == 0:
                raise ValueError("missing protocol scheme")
            scheme, rest = rest[:i].lower(), rest[i + 1 :]
        break
    rest = rest.split("?", 1)[0]
    if not scheme and ":" in rest.split("/", 1)[0]:
        raise ValueError("first path segment in URL cannot contain colon")
    bad = _BAD_ESCAPE.search(rest)
    if bad is not None:
        raise ValueError(f'invalid URL escape "{rest[bad.start() : bad.start() + 3]}"')
    return scheme


def _endpoint_problem(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    if endpoint == "":
        return "endpoint is a mandatory field for a kms (e.g. unix:///var/run/kms-plugin.sock)"
    try:
        scheme = _go_url_scheme(endpoint)
    except ValueError as exc:
        return f'invalid endpoint for kms provider, error: parse "{endpoint}": {exc}'
    if scheme != "unix":
        return (
            f'unsupported scheme "{scheme}" for KMS provider, only unix is supported '
            "(e.g. unix:///var/run/kms-plugin.sock)"
        )
    return None


_PLAINTEXT_FIRST = (
    "identity is the first provider, so new writes of {what} are stored in plaintext; put an "
    "encrypting provider (kms apiVersion v2) first and keep identity after it only while migrating"
)
_PLAINTEXT_ONLY = (
    "identity is the only provider, so {what} are stored in plaintext (the same as no encryption)"
)
_STATIC_KEY = (
    "the {kind} key is stored in this file, next to the apiserver and the data it protects: "
    "whoever reads the control-plane disk (or a backup of it) can decrypt etcd; prefer kms "
    "apiVersion v2 so the key stays in an external KMS"
)
_AESCBC = (
    "aescbc is not recommended: CBC has no integrity protection and is vulnerable to padding "
    "oracle attacks; write with kms v2 (or aesgcm/secretbox) and keep aescbc only to read old "
    "data"
)
_AESGCM = (
    "aesgcm uses random 96-bit nonces, so upstream requires rotating its key every 200,000 "
    "writes (add a new first key, then rewrite every object: sealbox etcd rewrap); the apiserver "
    "does not rotate it for you: prefer kms apiVersion v2"
)
_KMS_V1 = (
    "KMS v1 is deprecated and disabled by default since Kubernetes 1.29: kube-apiserver refuses "
    "this file unless started with --feature-gates=KMSv1=true; migrate to apiVersion: v2"
)
_KMS_DEFAULT_V1 = (
    "apiVersion is not set, so this is a KMS v1 provider (the default), not v2; "
    "write apiVersion: v2 for a KMS v2 plugin"
)
_KMS_V1_DUPLICATE = (
    "duplicate KMS provider name {name}: accepted for v1, but rejected when "
    "--encryption-provider-config-automatic-reload is on; give each provider its own name"
)
_LEGACY_KIND = (
    "kind EncryptionConfig with apiVersion v1 is a legacy alias; write kind: "
    "EncryptionConfiguration with apiVersion: apiserver.config.k8s.io/v1"
)
_NO_SECRETS = (
    "no entry covers secrets (add 'secrets', '*.' or '*.*' to an entry): "
    "Secrets are stored in plaintext"
)


def advise(config: RawConfig, *, reload: bool = False) -> list[ConfigIssue]:
    """Warnings: choices the apiserver accepts but that weaken or endanger encryption at rest."""
    warnings: list[ConfigIssue] = []
    if config.legacy_kind:
        warnings.append(ConfigIssue("kind", _LEGACY_KIND))
    entries = [entry for entry in config.entries or () if entry is not None]
    kms_names: set[str] = set()
    for entry in entries:
        providers = [p for p in entry.providers or () if p is not None]
        if providers and providers[0].types == ["identity"]:
            what = ", ".join(r for r in entry.resources or () if r) or "these resources"
            template = _PLAINTEXT_ONLY if len(providers) == 1 else _PLAINTEXT_FIRST
            warnings.append(ConfigIssue(providers[0].path, template.format(what=what)))
        for provider in providers:
            warnings += _advise_provider(provider, kms_names, reload)
    lists = [(f"{entry.path}.resources", entry.resources or []) for entry in entries]
    secrets = gr_rules.GroupResource("", "secrets")
    if entries and not any(gr_rules.covers(names, secrets) for _, names in lists):
        warnings.append(ConfigIssue("resources", _NO_SECRETS))
    return warnings + gr_rules.check_repeats(lists)


def _advise_provider(provider: RawProvider, kms_names: set[str], reload: bool) -> list[ConfigIssue]:
    warnings: list[ConfigIssue] = []
    for kind in provider.keys:
        path = f"{provider.path}.{kind}"
        if kind == "aescbc":
            warnings.append(ConfigIssue(path, _AESCBC))
        if kind == "aesgcm":
            warnings.append(ConfigIssue(path, _AESGCM))
        warnings.append(ConfigIssue(path, _STATIC_KEY.format(kind=kind)))
    kms = provider.kms
    if kms is None:
        return warnings
    if kms.api_version == "v1":
        warnings.append(ConfigIssue(f"{kms.path}.apiVersion", _KMS_V1))
        if kms.name and kms.name in kms_names and not reload:
            message = _KMS_V1_DUPLICATE.format(name=kms.name)
            warnings.append(ConfigIssue(f"{kms.path}.name", message))
    if not kms.api_version_set:
        warnings.append(ConfigIssue(f"{kms.path}.apiVersion", _KMS_DEFAULT_V1))
    kms_names.add(kms.name or "")  # "" never matches: the duplicate checks need a name
    return warnings


def to_model(raw: RawConfig, source: str) -> EncryptionConfiguration:
    """The model of a configuration that decoded and validated without errors."""
    entries = [entry for entry in raw.entries or () if entry is not None]
    return EncryptionConfiguration(tuple(_build_entry(entry) for entry in entries), source)


def _build_entry(entry: RawEntry) -> ResourceConfiguration:
    names = tuple(name for name in entry.resources or () if name is not None)
    providers = tuple(_build_provider(p) for p in entry.providers or () if p is not None)
    return ResourceConfiguration(names, providers, entry.path)


def _build_provider(provider: RawProvider) -> ProviderConfiguration:
    kind = next(t for t in PROVIDER_TYPES if t in provider.types)
    keys = tuple(
        # Go's base64 decoder skips CR and LF; keep the secret in the form Key.material() reads.
        Key(key.name or "", (key.secret or "").replace("\r", "").replace("\n", ""), key.path)
        for key in provider.keys.get(kind) or ()
        if key is not None
    )
    kms = _build_kms(provider.kms) if provider.kms is not None else None
    return ProviderConfiguration(kind, keys, kms, provider.path)


def _build_kms(kms: RawKMS) -> KMSConfiguration:
    return KMSConfiguration(
        name=kms.name or "",
        endpoint=kms.endpoint or "",
        api_version="v2" if kms.api_version == "v2" else "v1",
        cachesize=kms.cachesize,
        timeout_seconds=kms.timeout_ns / NANOSECONDS_PER_SECOND,
        path=kms.path,
    )
