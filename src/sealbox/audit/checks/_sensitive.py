"""What looks like a credential: key names, literal values and credential formats, in one place.

Used by the env-var control (workloads), the ConfigMap and Helm values controls (repo). The
lists lean towards precision, because the noise users report on existing scanners is exactly
here (kubescape/regolibrary#563 and #697: ``*_FILE`` / ``*_PATH`` variables that hold a path
to a mounted Secret; FairwindsOps/polaris#1046: ``$(VAR)`` interpolation of a Secret-backed
variable; kubescape/kubescape#1364: ``key`` and ``*_access_key_id`` matching identifiers).

* A **name** is split into words (``dbPassword``, ``DB_PASSWORD``, ``db.password`` all give
  ``db password``). It is sensitive when a word is a credential word (``password``, ``token``,
  ``secret`` ...) and the *last* word does not turn it into something about a credential (a
  ``..._FILE`` path, a ``...SecretName`` reference, a ``...TokenTTL`` setting). A trailing
  ``key`` counts only after ``api``, ``private``, ``secret``, ... (``passwordKey`` names a key
  inside an existing Secret; ``apiKey`` is one). Names that mention ``existing`` are references.
* A **literal** is a value someone typed: not empty, not a boolean, not a file path and not a
  reference or template (``$(VAR)``, ``${VAR}``, ``{{ .Values.x }}``, SOPS ``ENC[...]``, ...).
* **Credential formats** are matched in text, and in base64-decoded text: PEM private keys,
  AWS access key ids, GitHub, Slack and Google API tokens, JWTs, URIs with a password, and
  ``password=...`` / ``token: ...`` assignments (commented-out lines skipped). Only the kind
  of match (and for assignments the key name) is returned, never matched value text, so
  callers cannot leak it into a finding.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = [
    "credential_kinds",
    "is_literal",
    "is_sensitive_name",
    "name_words",
]

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CREDENTIAL_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "passphrase",
        "pass",
        "pwd",
        "secret",
        "secrets",
        "token",
        "tokens",
        "credential",
        "credentials",
        "creds",
    }
)
# Compounds written as one lowercase word (``adminpassword``, ``apikey``).
_CREDENTIAL_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "apikey",
    "secretkey",
    "privatekey",
    "accesstoken",
    "authtoken",
    "clientsecret",
)
# ``... key`` is a credential only after one of these words (``AWS_SECRET_ACCESS_KEY``).
_KEY_PREFIXES = frozenset(
    {
        "api",
        "private",
        "secret",
        "signing",
        "encryption",
        "master",
        "auth",
        "client",
        "license",
        "hmac",
        "session",
        "shared",
        "account",
        "crypto",
    }
)
# A last word that makes the name *about* a credential rather than the credential itself.
_QUALIFIERS = frozenset(
    {
        *("file", "files", "path", "paths", "dir", "directory", "mount", "location"),
        *("name", "names", "ref", "reference", "url", "uri", "endpoint", "host", "hostname"),
        *("port", "user", "username", "id", "ids", "length", "len", "min", "max", "size"),
        *("count", "ttl", "timeout", "expiry", "expires", "expiration", "duration", "lifetime"),
        *("seconds", "secs", "minutes", "hours", "days", "interval", "period", "enabled"),
        *("enable", "disabled", "required", "optional", "type", "policy", "mode", "header"),
        *("field", "format", "prefix", "suffix", "audience", "issuer", "algorithm", "alg"),
        *("version", "provider", "store", "backend", "selector", "annotation", "annotations"),
        *("label", "labels", "namespace", "kind", "regex", "pattern", "template", "strength"),
        *("threshold", "region", "zone", "arn", "bucket", "role", "scope", "scopes", "method"),
        *("strategy", "source", "class", "level", "group", "owner", "cache"),
    }
)
_REFERENCE_WORDS = frozenset({"existing"})

_BOOLEANS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "none", "nil", "~"})
_REFERENCE = re.compile(
    r"\{\{|\$\{|\$\(|^\$[A-Za-z_]|%\(|^ENC\[|^<[^<>]*>$|^(?:ref\+|vault:|secretref\+)"
    r"|^(?:\*+|x+|\.+|-+)$",
    re.IGNORECASE,
)
_PATH = re.compile(r"^(?:/|\./|\.\./|~/|file:)")
_K8S_REF = re.compile(r"\$\$|\$\([^)]*\)")

_FORMATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "a GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
    ),
    ("a Slack token", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("a JWT", re.compile(r"\beyJhbGciO[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")),
)
_URI_PASSWORD = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s/:@]*:([^\s/@]+)@")
# Keys start only where a token starts (the lookbehind), which keeps the scan linear in the
# length of long unbroken values such as certificates or base64 blobs.
_ASSIGNMENT = re.compile(
    r"(?<![A-Za-z0-9_.-])(?:-D)?(?P<key>[A-Za-z][A-Za-z0-9_.-]*)[\"']?[ \t]*(?:=|:(?!//))[ \t]*"
    r"(?P<value>\"[^\"\n]*\"|'[^'\n]*'|[^\s,;&\"'}]+)"
)
_COMMENTS = ("#", ";", "//")  # commented-out defaults (``;admin_password = admin``) are not set
_BASE64 = re.compile(r"^[A-Za-z0-9+/_-]{16,}={0,2}$")
_MAX_SCAN = 1024 * 1024  # scan at most 1 MiB of one value


def name_words(name: str) -> list[str]:
    """``dbPassword_FILE`` -> ``["db", "password", "file"]``."""
    return [word.lower() for word in _WORD.findall(name)]


def is_sensitive_name(name: str) -> bool:
    """True when a key or variable name says it holds a credential (see the module doc)."""
    words = name_words(name)
    if not words or _REFERENCE_WORDS.intersection(words):
        return False
    last = words[-1]
    if last in _QUALIFIERS:
        return False
    if last == "key":
        return bool(_KEY_PREFIXES.intersection(words[:-1]))
    if _CREDENTIAL_WORDS.intersection(words):
        return True
    return any(part in word for word in words for part in _CREDENTIAL_PARTS)


def is_literal(value: object) -> bool:
    """True for a value somebody typed in, as opposed to empty, boolean, path or reference.

    Integers count (``password: 123456`` in a Helm values file is a literal password); booleans,
    floats, None and collections do not.
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if not isinstance(value, str):
        return False
    text = value.strip().strip("\"'").strip()
    if not text or text.lower() in _BOOLEANS:
        return False
    return not (_REFERENCE.search(text) or _PATH.match(text))


def credential_kinds(text: str, *, decode: bool = True) -> list[str]:
    """The kinds of credential found in ``text`` (and in it base64-decoded), deduplicated.

    Kubernetes ``$(VAR)`` references are removed first: what they expand to comes from
    elsewhere. Returns labels such as ``"a private key"`` or ``"an assignment to 'db.pass'"``:
    a kind, or the *name* a value is assigned to, never any part of a value.
    """
    text = _K8S_REF.sub("", text[:_MAX_SCAN])
    found: list[str] = []
    for label, pattern in _FORMATS:
        if pattern.search(text):
            found.append(label)
    if any(is_literal(match.group(1)) for match in _URI_PASSWORD.finditer(text)):
        found.append("a password in a URI")
    for line in text.splitlines():
        if line.lstrip().startswith(_COMMENTS):
            continue
        for match in _ASSIGNMENT.finditer(line):
            key = match.group("key")
            if is_sensitive_name(key) and is_literal(match.group("value")):
                found.append(f"an assignment to {key!r}")
    if decode:
        decoded = _decode_base64(text)
        if decoded is not None:
            found.extend(
                f"{kind} (base64-encoded)" for kind in credential_kinds(decoded, decode=False)
            )
    return list(dict.fromkeys(found))


def _decode_base64(text: str) -> str | None:
    """The text of a base64 value (standard or URL-safe), or None if it is not base64 text."""
    compact = "".join(text.split())
    if not _BASE64.match(compact):
        return None
    padded = compact + "=" * (-len(compact) % 4)
    try:
        raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        decoded = raw.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
    return decoded if decoded and printable == len(decoded) else None
