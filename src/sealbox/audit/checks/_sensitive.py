"""What looks like a credential: key names, literal values and credential formats, in one place.

Used by the env-var control (workloads), the ConfigMap, Secret and Helm values controls (repo).
The rules lean towards precision, because the noise users report on existing scanners is exactly
here (kubescape/regolibrary#563 and #697: ``*_FILE`` / ``*_PATH`` variables that hold a path
to a mounted Secret; FairwindsOps/polaris#1046: ``$(VAR)`` interpolation of a Secret-backed
variable; kubescape/kubescape#1364: ``key`` and ``*_access_key_id`` matching identifiers), and
on real repositories substrings were the worst of it: ``token`` in ``MAX_TOTAL_TOKENS``.

* A **name** is split into words at case changes, ``_``, ``-``, ``.`` and digits
  (``requestedIDTokenClaims`` gives ``requested id token claims``), and its *last* word, the head
  noun, decides, after dropping trailing digits and words that only say how the credential is
  written (``value``, ``base``, ``b64``, ``hash``, ``salt`` ...: ``SECRET_KEY_BASE``):

  - ``password``, ``passwd``, ``passphrase``, ``pwd``, ``pass``, ``credential(s)``, ``creds``
    and ``secret`` are credentials, except a ``secret`` that names a Kubernetes Secret object
    (``tls_secret``, ``pullSecret``); ``dbPassword``, ``MYSQL_ROOT_PASSWORD``, ``client_secret``.
    One-word compounds count when they end in one (``pgpassword``, ``apikey``, ``authtoken``).
  - ``token`` is one unless the word before makes it a unit of text (``max_token``,
    ``pad_token``, ``eos_token``); plural ``tokens``, ``secrets`` and ``keys`` only after an
    auth word (``api_tokens``, ``client_secrets``): ``max_num_batched_tokens``,
    ``imagePullSecrets`` are not.
  - ``key`` only after ``api``, ``private``, ``secret``, ``signing`` ... (``passwordKey`` names
    a key inside an existing Secret; ``apiKey`` is one).
  - Any other head is *about* a credential, not one: ``PASSWORD_FILE``, ``secretName``,
    ``secretRef``, ``token_limit``, ``tokenTTL``, ``secretEnv``, ``passwordPolicy``. Names that
    mention ``existing`` are references, and a key named like a script or config file
    (``create-secret.sh``, ``secrets.yaml``) is judged by its content, not its name.

* A **value** is judged by :mod:`._values`: only a ``literal`` can be a credential; numbers,
  booleans, references, templates, paths and public PEM blocks cannot; placeholders are noted.
* **Credential formats** are matched in text, and in base64-decoded text: PEM private keys,
  AWS access key ids, GitHub, Slack and Google API tokens, JWTs, URIs with a password, and
  ``password=...`` / ``token: ...`` assignments (commented-out lines skipped; nsswitch's
  ``passwd: files`` names a user database). Only the kind of match (and for assignments the key
  name) is returned, never matched value text, so callers cannot leak it into a finding.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re

from sealbox.audit.checks._values import ValueKind, classify_value, is_literal, is_placeholder

__all__ = [
    "ValueKind",
    "classify_value",
    "credential_kinds",
    "decode_base64",
    "is_literal",
    "is_placeholder",
    "is_sensitive_name",
    "is_username_name",
    "name_judgement",
    "name_words",
    "placeholder_assignments",
]

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_CREDENTIAL_HEADS = frozenset(
    {
        *("password", "passwords", "passwd", "passphrase", "pass", "pwd", "secret"),
        *("credential", "credentials", "creds", "token"),
    }
)
# One-word compounds (``adminpassword``, ``apikey``): the head word ends with one of these.
_CREDENTIAL_ENDINGS = (
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
        *("api", "private", "secret", "signing", "encryption", "master", "auth", "client"),
        *("license", "hmac", "session", "shared", "account", "crypto"),
    }
)
# Plural heads (``tokens``, ``secrets``, ``keys``) are credentials only after one of these.
_AUTH_WORDS = frozenset(
    {
        *("api", "access", "auth", "bearer", "refresh", "session", "client", "bot", "service"),
        *("webhook", "signing", "app", "private", "secret"),
    }
)
# ``<word> token`` where the token is a unit of text (LLM serving and tokenizer configs).
_TEXT_TOKEN_WORDS = frozenset(
    {
        *("max", "min", "num", "total", "batched", "batch", "prompt", "completion", "input"),
        *("output", "new", "context", "special", "pad", "eos", "bos", "unk", "sep", "cls"),
        *("mask", "stop", "start", "end", "per", "generated", "reserved", "vocab", "image"),
    }
)
# ``<word> secret`` that names a Kubernetes Secret object rather than holding a value.
_SECRET_OBJECT_WORDS = frozenset(
    {"tls", "pull", "k8s", "kube", "kubernetes", "sealed", "external", "cert", "certificate"}
)
# Trailing words that say how a credential is written, not what the name is about.
_ENCODING_WORDS = frozenset(
    {
        *("value", "val", "data", "string", "str", "text", "base", "b64", "base64", "hex"),
        *("raw", "plain", "plaintext", "literal", "encoded", "hash", "hashed", "salt", "pepper"),
    }
)
_USERNAME_HEADS = frozenset({"user", "username", "login", "email", "userid", "account"})
_REFERENCE_WORDS = frozenset({"existing"})
_FILE_NAME = re.compile(
    r"\.(?:sh|bash|zsh|py|rb|js|mjs|ts|pl|ps1|go|yaml|yml|json|toml|ini|conf|cfg|properties"
    r"|xml|sql|tpl|tmpl|j2|lua|md|html|env)$",
    re.IGNORECASE,
)
# nsswitch.conf ``passwd: files systemd``: the user database and where it is looked up.
_UNIX_DATABASES = frozenset({"passwd", "shadow", "gshadow", "group"})
_NSS_SOURCES = frozenset(
    {
        *("files", "compat", "db", "dns", "nis", "nisplus", "ldap", "sss", "systemd"),
        *("winbind", "myhostname", "mymachines", "resolve", "hesiod", "altfiles", "cache"),
    }
)
_PASSWD_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*:[^:\n]*:\d+:\d+:", re.MULTILINE)
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


@functools.lru_cache(maxsize=8192)  # key names repeat across files: judge each once
def _head(name: str) -> tuple[str, tuple[str, ...]] | None:
    """The head word of ``name`` and the words before it (None for a reference or no word)."""
    words = name_words(name)
    if not words or _REFERENCE_WORDS.intersection(words) or _FILE_NAME.search(name):
        return None
    while len(words) > 1 and (words[-1].isdigit() or words[-1] in _ENCODING_WORDS):
        words.pop()
    return words[-1], tuple(words[:-1])


@functools.lru_cache(maxsize=8192)
def is_sensitive_name(name: str) -> bool:
    """True when a key or variable name says it holds a credential (see the module doc)."""
    found = _head(name)
    if found is None:
        return False
    head, before = found
    previous = before[-1] if before else ""
    if head == "token":
        return previous not in _TEXT_TOKEN_WORDS
    if head == "secret":
        return previous not in _SECRET_OBJECT_WORDS
    if head in _CREDENTIAL_HEADS:
        return True
    if head in ("tokens", "secrets", "keys"):
        return previous not in _TEXT_TOKEN_WORDS and bool(_AUTH_WORDS.intersection(before))
    if head == "key":
        return bool(_KEY_PREFIXES.intersection(before))
    return head.endswith(_CREDENTIAL_ENDINGS)


def is_username_name(name: str) -> bool:
    """True for ``username``, ``DB_USER``, ``login``: an identity, which alone is no secret."""
    found = _head(name)
    return found is not None and found[0] in _USERNAME_HEADS


def name_judgement(name: str, value: object) -> ValueKind | None:
    """For ``name: value``: LITERAL (a credential), PLACEHOLDER (a stand-in), or None.

    None when the name does not say credential, or the value cannot be one (a number, a
    reference, nsswitch's ``passwd: compat`` or an ``/etc/passwd`` file under ``passwd``).
    """
    if not is_sensitive_name(name):
        return None
    kind = classify_value(value)
    if kind is ValueKind.LITERAL and _unix_database(name, value):
        return None
    return kind if kind in (ValueKind.LITERAL, ValueKind.PLACEHOLDER) else None


def _unix_database(name: str, value: object) -> bool:
    if name.strip().lower() not in _UNIX_DATABASES or not isinstance(value, str):
        return False
    first = value.strip().strip("\"'").split()
    if first and first[0].lower() in _NSS_SOURCES:
        return True
    return bool(_PASSWD_LINE.search(value))


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
    found.extend(f"an assignment to {key!r}" for key in _assignments(text, ValueKind.LITERAL))
    if decode:
        decoded = decode_base64(text)
        if decoded is not None:
            found.extend(
                f"{kind} (base64-encoded)" for kind in credential_kinds(decoded, decode=False)
            )
    return list(dict.fromkeys(found))


def placeholder_assignments(text: str) -> list[str]:
    """The keys a config file assigns a placeholder credential to (``password = changeme``)."""
    return list(
        dict.fromkeys(_assignments(_K8S_REF.sub("", text[:_MAX_SCAN]), ValueKind.PLACEHOLDER))
    )


def _assignments(text: str, wanted: ValueKind) -> list[str]:
    return [key for key, kind in _judged_assignments(text) if kind is wanted]


@functools.lru_cache(maxsize=256)  # credential_kinds and placeholder_assignments scan one text
def _judged_assignments(text: str) -> tuple[tuple[str, ValueKind], ...]:
    judged: list[tuple[str, ValueKind]] = []
    for line in text.splitlines():
        if line.lstrip().startswith(_COMMENTS):
            continue
        for match in _ASSIGNMENT.finditer(line):
            key = match.group("key")
            kind = name_judgement(key, match.group("value"))
            if kind is not None:
                judged.append((key, kind))
    return tuple(judged)


def decode_base64(text: str) -> str | None:
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
