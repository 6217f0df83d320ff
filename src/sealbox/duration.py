"""Go ``time.ParseDuration``: durations as kube-apiserver and Sealbox's own config files write them.

kube-apiserver decodes the EncryptionConfiguration's ``kms.timeout`` into a ``metav1.Duration``:
a JSON string handed to Go's ``time.ParseDuration``, that is a sequence of decimal numbers, each
with an optional fraction and a unit (``ns``, ``us``/``µs``/``μs``, ``ms``, ``s``, ``m``, ``h``),
with an optional sign, such as ``3s``, ``1m30s``, ``2.5s`` or ``-1h``. A bare ``0`` is allowed;
other bare numbers are not. This module reproduces that grammar, its int64 nanosecond range and
its error texts; plugin.yaml's durations (``healthProbeInterval``, ``rescanInterval``) use the
same grammar.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "NANOSECONDS_PER_SECOND",
    "duration_check",
    "duration_in_range",
    "format_seconds",
    "parse_go_duration",
]

NANOSECONDS_PER_SECOND = 1_000_000_000

_UNITS: dict[str, int] = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # greek small letter mu
    "ms": 1_000_000,
    "s": NANOSECONDS_PER_SECOND,
    "m": 60 * NANOSECONDS_PER_SECOND,
    "h": 3600 * NANOSECONDS_PER_SECOND,
}
_LIMIT = 1 << 63
_DIGITS = "0123456789"


def _invalid(orig: str) -> ValueError:
    return ValueError(f'time: invalid duration "{orig}"')


def _leading_int(text: str, orig: str) -> tuple[int, str]:
    """Consume ``[0-9]*``; overflow past 2**63 is an invalid duration."""
    value = 0
    i = 0
    while i < len(text) and text[i] in _DIGITS:
        value = value * 10 + int(text[i])
        if value > _LIMIT:
            raise _invalid(orig)
        i += 1
    return value, text[i:]


def _leading_fraction(text: str) -> tuple[int, float, str]:
    """Consume the digits after ``.``; digits past int64 precision are dropped, as in Go."""
    value, scale, overflow = 0, 1.0, False
    i = 0
    while i < len(text) and text[i] in _DIGITS:
        if not overflow:
            candidate = value * 10 + int(text[i])
            if value > (_LIMIT - 1) // 10 or candidate > _LIMIT:
                overflow = True
            else:
                value, scale = candidate, scale * 10
        i += 1
    return value, scale, text[i:]


def _component(text: str, orig: str) -> tuple[int, str]:
    """Parse one ``<number><unit>`` element; return its nanoseconds and the rest of ``text``."""
    if not (text[0] == "." or text[0] in _DIGITS):
        raise _invalid(orig)
    before = len(text)
    whole, text = _leading_int(text, orig)
    has_int = len(text) != before
    fraction, scale, has_fraction = 0, 1.0, False
    if text.startswith("."):
        text = text[1:]
        before = len(text)
        fraction, scale, text = _leading_fraction(text)
        has_fraction = len(text) != before
    if not has_int and not has_fraction:
        raise _invalid(orig)
    end = 0
    while end < len(text) and not (text[end] == "." or text[end] in _DIGITS):
        end += 1
    if end == 0:
        raise ValueError(f'time: missing unit in duration "{orig}"')
    unit_name, text = text[:end], text[end:]
    unit = _UNITS.get(unit_name)
    if unit is None:
        raise ValueError(f'time: unknown unit "{unit_name}" in duration "{orig}"')
    if whole > _LIMIT // unit:
        raise _invalid(orig)
    nanos = whole * unit
    if fraction > 0:
        nanos += int(float(fraction) * (float(unit) / scale))
        if nanos > _LIMIT:
            raise _invalid(orig)
    return nanos, text


def parse_go_duration(text: str) -> int:
    """Parse a Go duration string and return it in nanoseconds (an int64 value).

    Raises:
        ValueError: ``text`` is not a Go duration; the message is Go's (``time: ...``).
    """
    orig = text
    negative = False
    if text[:1] in ("-", "+"):
        negative = text[0] == "-"
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise _invalid(orig)
    total = 0
    while text:
        nanos, text = _component(text, orig)
        total += nanos
        if total > _LIMIT:
            raise _invalid(orig)
    if negative:
        return -total
    if total > _LIMIT - 1:
        raise _invalid(orig)
    return total


def format_seconds(seconds: float) -> str:
    """Render seconds the short way people write them: ``3s``, ``1.5s``, ``500ms``."""
    if seconds != 0 and abs(seconds) < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def duration_in_range(text: str, *, low: str, high: str, example: str) -> float:
    """The seconds ``text`` stands for, if it is a duration from ``low`` to ``high`` (inclusive).

    For config validators: the message says what would be valid, in the file's own terms.

    Raises:
        ValueError: ``text`` is not a Go duration, or lies outside the range.
    """
    nanoseconds = parse_go_duration(text)
    if not parse_go_duration(low) <= nanoseconds <= parse_go_duration(high):
        raise ValueError(f"a duration between {low} and {high}, e.g. {example}")
    return nanoseconds / NANOSECONDS_PER_SECOND


def duration_check(*, low: str, high: str, example: str) -> Callable[[str], str]:
    """A config-field validator: ``text`` unchanged when :func:`duration_in_range` accepts it.

    Raises (when called):
        ValueError: as :func:`duration_in_range`.
    """

    def check(text: str) -> str:
        duration_in_range(text, low=low, high=high, example=example)
        return text

    return check
