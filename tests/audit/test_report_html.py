"""The HTML page: self-contained, every string escaped, charts and findings present, and rendered
for real by headless Chromium (screenshot checked as a PNG, DOM checked after scripts ran)."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import struct
import subprocess
import zlib
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.audit.model import Finding, Location, NotAudited, ObjectRef
from sealbox.audit.report import to_html
from tests.audit.report_sample import (
    ENV,
    HOSTILE_NAME,
    LIVE_SECTIONS,
    MARKER,
    SECTIONS,
    empty_report,
    sample_report,
)

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT = 1280, 2000


def test_page_is_self_contained() -> None:
    page = to_html(sample_report())
    assert page.startswith("<!DOCTYPE html>")
    assert re.findall(r"https?://[^\s\"'<>]+", page) == ["http://www.w3.org/2000/svg"] * 2
    for needle in ("<link", "<iframe", "<img", "@import", "url(", " src=", "<object", "<embed"):
        assert needle not in page
    assert page.count("<style>") == 1
    assert page.count("<script") == 1


def test_content_security_policy_allows_exactly_the_inline_style_and_script() -> None:
    page = to_html(sample_report())
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert style is not None
    assert script is not None

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    policy = csp.group(1)
    assert "default-src 'none'" in policy
    assert f"style-src 'sha256-{digest(style.group(1))}'" in policy
    assert f"script-src 'sha256-{digest(script.group(1))}'" in policy
    assert "unsafe-inline" not in policy


def test_findings_grouped_by_severity_with_remediation() -> None:
    report = sample_report()
    page = to_html(report)
    groups = re.findall(r'<section class="card group" id="sev-(\w+)"', page)
    assert groups == ["critical", "high", "medium", "low", "info"]
    for finding in report.findings:
        assert f">{finding.control.id}</td>" in page
        assert finding.control.remediation in page
    assert "rbac/admin.yaml:12" in page
    assert 'id="verdict">FAILED' in page
    assert "findings at or above high" in page


def test_summary_charts_per_severity_and_area() -> None:
    page = to_html(sample_report())
    severity = re.search(r'<svg id="chart-severity".*?</svg>', page, re.S)
    area = re.search(r'<svg id="chart-area".*?</svg>', page, re.S)
    assert severity is not None
    assert area is not None
    assert 'aria-label="critical: 1, high: 2, medium: 1, low: 1, info: 1"' in severity.group(0)
    assert (
        'aria-label="workloads: 2, manifests: 1, rbac: 1, encryption: 1, '
        'audit-policy: 0, audit-log: 1"' in area.group(0)
    )
    # Bars are drawn to scale: the tallest (high: 2) fills the track, critical (1) half of it.
    fills = re.findall(
        r'<rect x="\d+" y="\d+" width="(\d+)" height="\d+" rx="3" fill="#(?!f1f5f9)',
        severity.group(0),
    )
    widths = [int(w) for w in fills]
    assert widths[1] == 2 * widths[0] > 0
    assert widths[0] == widths[2] == widths[3] == widths[4]


def test_suppressed_problems_and_sections_are_shown() -> None:
    page = to_html(sample_report())
    assert 'id="suppressed"' in page
    assert "legacy worker reads env only; tracked in OPS-12" in page
    assert "(.sealbox-ignore.yaml:4)" in page
    assert 'id="problems"' in page
    assert "<code>broken/bad.yaml:7</code>" in page
    assert "malformed YAML: mapping values are not allowed" in page
    assert '<section class="card section" data-section="auditLog"><h2>Audit log</h2>' in page
    assert "<h3>Per identity</h3>" in page
    for row in SECTIONS["auditLog"]["perIdentity"]:
        assert f"<td>{row['identity']}</td>" in page


def test_live_audit_and_custom_workload_sections_are_tables() -> None:
    page = to_html(replace(empty_report(), sections=LIVE_SECTIONS))
    assert '<section class="card section" data-section="apiCalls"><h2>API calls</h2>' in page
    assert (
        "<tr><th>Verb</th><th>Resource</th><th>Read</th><th>Requests</th><th>Objects</th></tr>"
    ) in page
    assert (
        "<tr><td>list</td><td>secrets</td><td>metadata only</td><td>2</td><td>9</td></tr>" in page
    )
    assert "<h2>Custom workloads</h2>" in page
    assert "<th>API group</th>" in page


def test_script_in_an_object_name_is_escaped() -> None:
    page = to_html(sample_report())
    escaped = "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;"
    assert f"Secret prod/{escaped}" in page
    assert HOSTILE_NAME not in page
    assert "alert(" not in page.replace(escaped, "")
    assert page.count("<script") == 1


def test_attribute_and_control_characters_are_escaped() -> None:
    finding = Finding(
        ENV.__class__(
            id="SBX-199",
            title='" onmouseover="alert(1)',
            severity=ENV.severity,
            rationale="r",
            remediation="<b>fix</b>",
        ),
        "bad\x1b[31m\x00message",
        Location("a'b\".yaml", 3),
        ObjectRef("Secret", "ns", "x' onload='y"),
        {"<k>": "<v>"},
    )
    page = to_html(replace(empty_report(), findings=(finding,)))
    assert 'title="&quot; onmouseover=&quot;alert(1)"' in page
    assert "&lt;b&gt;fix&lt;/b&gt;" in page
    assert "bad\\x1b[31m\\x00message" in page
    assert "\x1b" not in page
    assert "\x00" not in page
    assert "a&#x27;b&quot;.yaml:3" in page
    assert "<b>&lt;k&gt;</b> &lt;v&gt;" in page


@settings(max_examples=60, deadline=None)
@given(name=st.text(max_size=30), message=st.text(max_size=60), reason=st.text(max_size=30))
def test_no_text_can_add_markup(name: str, message: str, reason: str) -> None:
    """Whatever the strings hold, the page has exactly as many tags as with harmless ones."""

    def page(n: str, m: str) -> str:
        finding = Finding(ENV, m, Location(f"{n}.yaml", 1), ObjectRef("Pod", n, n), {n: m})
        report = replace(empty_report(), findings=(finding,), sections={"s": {"k": [n, m]}})
        return to_html(report)

    assert page(name, message).count("<") == page("x", "y").count("<")
    assert page(reason, name).count(">") == page("x", "y").count(">")


def test_empty_report_page() -> None:
    page = to_html(empty_report())
    assert "No findings." in page
    assert 'id="verdict">PASSED' in page
    assert 'id="filters"' not in page


def test_no_secret_value_in_page() -> None:
    assert MARKER not in to_html(sample_report())


# --- headless Chromium -------------------------------------------------------------------------


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    profile = tmp_path / "profile"
    env = {**os.environ, "HOME": str(tmp_path)}
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, timeout=180, env=env, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return done


def _screenshot(tmp_path: Path, page: Path, name: str) -> Path:
    shot = tmp_path / name
    _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    assert shot.is_file()
    return shot


def _png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and the (filtered) scanlines of an 8-bit RGB/RGBA PNG, stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0)
    channels = {2: 3, 6: 4}[color]
    raw = zlib.decompress(idat)
    stride = 1 + width * channels
    assert len(raw) == stride * height
    return width, height, [raw[i : i + stride] for i in range(0, len(raw), stride)]


@pytest.mark.integration
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="chromium is not installed")
def test_chromium_renders_a_non_blank_page_of_the_window_size(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(to_html(sample_report()), encoding="utf-8")
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")

    width, height, rows = _png_rows(_screenshot(tmp_path, page, "report.png").read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    _, _, blank_rows = _png_rows(_screenshot(tmp_path, blank, "blank.png").read_bytes())
    # A blank page compresses to a handful of distinct scanlines; a rendered report to hundreds.
    assert len(set(blank_rows)) < 5
    assert len(set(rows)) > 300


@pytest.mark.integration
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="chromium is not installed")
def test_chromium_dom_has_findings_chart_and_no_injected_script(tmp_path: Path) -> None:
    sample = sample_report()
    copied = replace(sample.findings[0], also=(Location("copy/rbac/admin.yaml", 12),))
    report = replace(
        sample,
        findings=(copied, *sample.findings[1:]),
        not_audited=(NotAudited("Widget", 2, Location("crd.yaml", 1)),),
    )
    page = tmp_path / "report.html"
    page.write_text(to_html(report), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", page.as_uri()).stdout.decode()
    for finding in report.findings:
        assert finding.control.id in dom
    assert '<svg id="chart-severity"' in dom
    assert '<svg id="chart-area"' in dom
    assert dom.count("<script") == 1
    assert '&lt;script&gt;alert("pwned")&lt;/script&gt;' in dom
    assert "<summary>also in 1 file</summary>" in dom
    assert 'id="not-audited"' in dom
    # The filter bar is hidden in the markup and shown by the script: the CSP hash let it run.
    filters = re.search(r'<div class="filters" id="filters"[^>]*>', dom)
    assert filters is not None
    assert "hidden" not in filters.group(0)
