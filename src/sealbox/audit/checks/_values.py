"""What kind of value a manifest holds under a credential-like name: a typed secret or not.

A name such as ``DB_PASSWORD`` only says a credential *may* be there; the value decides. These
never hold one, so they are never reported (``classify_value`` says which kind they are):

* ``empty``: ``""``, whitespace, ``null``;
* ``boolean``: ``true``/``false``/``yes``/``no``/``on``/``off`` and ``"1"``/``"0"``, the flags of
  ``MYSQL_ALLOW_EMPTY_PASSWORD="1"`` style settings;
* ``number``: integers and decimals of fewer than eight digits (counts, ports, sizes, TTLs);
  eight or more digits could be a numeric credential and stay literals;
* ``reference``: something filled in elsewhere: ``$VAR``, ``${VAR}``, ``$(VAR)``, templates
  (``{{ ... }}``, ``<%= ... %>``), ``os.environ[...]``, ``os.getenv(...)``, ``process.env.X``,
  SOPS ``ENC[...]``, ``ref+``/``vault:`` URIs, and an ``UPPER_SNAKE`` identifier, which names
  an environment variable (``secretEnv: OIDC_CLIENT_SECRET``);
* ``path``: ``/...``, ``./...``, ``~/...``, ``file:...`` (a mounted Secret's file);
* ``structure``: a flow list or mapping (``[{"type": "google_default"}]``), judged by its parts;
* ``public``: PEM blocks that are public by design: certificates, public keys, DH parameters.

``placeholder`` marks well-known stand-ins and defaults (``changeme``, ``<password>``,
``INSERT_TOKEN_HERE``, ``your-password-here``, ``xxx``, ``REPLACE_ME``, ``123456``, ``admin``):
not a secret (everyone knows them) but a credential someone may deploy unchanged, reported
as a low note. Everything else is a ``literal``. Classification never raises, whatever the input.
"""

from __future__ import annotations

import re
from enum import StrEnum

__all__ = ["ValueKind", "classify_value", "is_literal", "is_placeholder"]


class ValueKind(StrEnum):
    EMPTY = "empty"
    BOOLEAN = "boolean"
    NUMBER = "number"
    REFERENCE = "reference"
    PATH = "path"
    STRUCTURE = "structure"
    PUBLIC = "public"
    PLACEHOLDER = "placeholder"
    LITERAL = "literal"


_BOOLEANS = frozenset({"true", "false", "yes", "no", "on", "off", "1", "0", "enabled", "disabled"})
_NULLS = frozenset({"null", "none", "nil", "~"})
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_MAX_SETTING_DIGITS = 7
_MAX_PLACEHOLDER = 100  # stand-ins are short; longer text is a file, judged by its content
_SEPARATORS = re.compile(r"[-_ .]")
_REFERENCE = re.compile(
    r"\{\{|\$\{|\$\(|^\$[A-Za-z_]|%\(|<%=?|^ENC\[|^(?:ref\+|vault:|secretref\+|op://)"
    r"|\bos\.environ\b|\bos\.getenv\(|\bprocess\.env\.|\bSystem\.getenv\(|\bENV\[",
    re.IGNORECASE,
)
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$")
_PATH = re.compile(r"^(?:/|\./|\.\./|~/|file:)")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_PUBLIC_PEM = frozenset(
    {
        "CERTIFICATE",
        "TRUSTED CERTIFICATE",
        "X509 CRL",
        "CERTIFICATE REQUEST",
        "NEW CERTIFICATE REQUEST",
        "PUBLIC KEY",
        "RSA PUBLIC KEY",
        "DH PARAMETERS",
        "X9.42 DH PARAMETERS",
        "EC PARAMETERS",
        "PGP PUBLIC KEY BLOCK",
        "SSH2 PUBLIC KEY",
    }
)
_PLACEHOLDER_WORDS = frozenset(
    {
        *("changeme", "changeit", "changethis", "replaceme", "placeholder", "dummy", "example"),
        *("sample", "todo", "tbd", "fixme", "redacted", "secret", "password", "passw0rd", "pass"),
        *("admin", "root", "test", "guest", "default", "foo", "foobar", "mysecret", "token"),
        *("supersecret", "123456", "1234567", "12345678", "123456789", "password123"),
        *("admin123", "letmein", "qwerty", "apikey", "secretkey", "notset", "unset"),
    }
)
_PLACEHOLDER = re.compile(
    r"^<[^<>]*>$|^\[[A-Za-z][A-Za-z _-]*\]$"  # <password>, [YOUR TOKEN]
    r"|^[x*#.?]{3,}(?:[-_ ][x*#.?]+)*$"  # xxx, xxxx-xxxx, ****, ...
    r"|^(?:insert|your|enter|put|paste|fill|replace|change)[-_ ]"  # INSERT_..., your-...
    r"|[-_ ](?:here|goes[-_ ]here|me)$"  # your-password-here, REPLACE_ME
    r"|^(?:dummy|fake|example|sample|placeholder|changeme|my)[-_ ]?"
    r"(?:pass|password|passwd|secret|token|key|api[-_ ]?key|credentials?)s?$",
    re.IGNORECASE,
)


def classify_value(value: object) -> ValueKind:
    """The kind of ``value`` (see the module doc); YAML scalars or any object."""
    if value is None:
        return ValueKind.EMPTY
    if isinstance(value, bool):
        return ValueKind.BOOLEAN
    if isinstance(value, list | tuple | dict | set):
        return ValueKind.STRUCTURE
    return _classify_text(value if isinstance(value, str) else str(value))


def _classify_text(raw: str) -> ValueKind:
    text = raw.strip().strip("\"'").strip()
    lowered = text.lower()
    if not text or lowered in _NULLS:
        return ValueKind.EMPTY
    if lowered in _BOOLEANS:
        return ValueKind.BOOLEAN
    if _REFERENCE.search(text):
        return ValueKind.REFERENCE
    if len(text) <= _MAX_PLACEHOLDER and (
        _SEPARATORS.sub("", lowered) in _PLACEHOLDER_WORDS or _PLACEHOLDER.search(text)
    ):
        return ValueKind.PLACEHOLDER  # before the identifier test: INSERT_TOKEN_HERE
    if _NUMBER.match(text):
        digits = sum(ch.isdigit() for ch in text)
        return ValueKind.NUMBER if digits <= _MAX_SETTING_DIGITS else ValueKind.LITERAL
    if _ENV_NAME.match(text):
        return ValueKind.REFERENCE
    if _PATH.match(text):
        return ValueKind.PATH
    if text[0] in "[{" and "-----BEGIN" not in text:
        return ValueKind.STRUCTURE
    blocks = _PEM.findall(text)
    if blocks and all(block in _PUBLIC_PEM for block in blocks):
        return ValueKind.PUBLIC
    return ValueKind.LITERAL


def is_literal(value: object) -> bool:
    """True for a value someone typed that could be a real credential (kind ``literal``)."""
    return classify_value(value) is ValueKind.LITERAL


def is_placeholder(value: object) -> bool:
    """True for a well-known stand-in or default (``changeme``, ``<token>``, ``xxx``)."""
    return classify_value(value) is ValueKind.PLACEHOLDER
