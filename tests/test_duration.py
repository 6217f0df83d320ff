"""Go duration strings (``3s``, ``1m30s``, ``500ms``) as the apiserver's ``timeout`` parses them."""

from __future__ import annotations

import pytest

from sealbox.duration import duration_in_range, parse_go_duration


class TestGoDuration:
    @pytest.mark.parametrize(
        ("text", "nanos"),
        [
            ("3s", 3_000_000_000),
            ("500ms", 500_000_000),
            ("1m30s", 90_000_000_000),
            ("1h", 3_600_000_000_000),
            ("2.5s", 2_500_000_000),
            ("0s", 0),
            ("0", 0),
            ("-1s", -1_000_000_000),
            ("+5s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("300us", 300_000),
            ("300\u00b5s", 300_000),
            ("300\u03bcs", 300_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("9223372036854775807ns", 2**63 - 1),
            ("-9223372036854775808ns", -(2**63)),
            ("0.000000001s", 1),
        ],
    )
    def test_valid(self, text: str, nanos: int) -> None:
        assert parse_go_duration(text) == nanos

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", 'time: invalid duration ""'),
            ("3", 'time: missing unit in duration "3"'),
            ("s", 'time: invalid duration "s"'),
            (".s", 'time: invalid duration ".s"'),
            ("1x", 'time: unknown unit "x" in duration "1x"'),
            ("1.2.3s", 'time: missing unit in duration "1.2.3s"'),
            ("1S", 'time: unknown unit "S"'),
            ("9223372036854775808ns", "time: invalid duration"),
            ("2562048h", "time: invalid duration"),
            ("3 s", 'time: unknown unit " s"'),
        ],
    )
    def test_invalid(self, text: str, message: str) -> None:
        with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
            parse_go_duration(text)


class TestDurationInRange:
    @pytest.mark.parametrize(
        ("text", "seconds"), [("50ms", 0.05), ("30s", 30.0), ("1h", 3600.0), ("1m30s", 90.0)]
    )
    def test_inside_the_range_gives_seconds(self, text: str, seconds: float) -> None:
        assert duration_in_range(text, low="50ms", high="1h", example="30s") == seconds

    @pytest.mark.parametrize("text", ["49ms", "1h0m0.001s", "-1s", "0"])
    def test_outside_the_range_says_what_is_valid(self, text: str) -> None:
        with pytest.raises(ValueError, match=r"^a duration between 50ms and 1h, e\.g\. 30s$"):
            duration_in_range(text, low="50ms", high="1h", example="30s")

    def test_not_a_duration_keeps_gos_message(self) -> None:
        with pytest.raises(ValueError, match="missing unit"):
            duration_in_range("30", low="0s", high="1h", example="10s")
