"""The stylesheet and the small optional script of the HTML report, as constants.

They are Python strings rather than package data files so the page is built from the installed
code alone. Neither contains anything taken from a report: the page's Content-Security-Policy
allows exactly these two texts by hash.
"""

from __future__ import annotations

__all__ = ["CSS", "JS"]

CSS = """
:root {
  --fg: #0f172a; --muted: #64748b; --line: #e2e8f0; --bg: #f8fafc; --card: #ffffff;
  --critical: #991b1b; --high: #dc2626; --medium: #d97706; --low: #2563eb; --info: #64748b;
}
* { box-sizing: border-box; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans",
    sans-serif;
}
main { max-width: 1200px; margin: 0 auto; padding: 28px 24px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 17px; margin: 0 0 12px; display: flex; align-items: center; gap: 10px; }
h3 { font-size: 14px; margin: 18px 0 8px; color: #334155; }
h2 + h3 { margin-top: 4px; }
code { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, "DejaVu Sans Mono", monospace; }
.muted { color: var(--muted); font-weight: normal; }
.top { display: flex; justify-content: space-between; align-items: flex-start; gap: 24px;
  margin-bottom: 18px; }
.top p { margin: 0; }
.verdict { border-radius: 10px; padding: 10px 18px; font-weight: 700; font-size: 18px;
  letter-spacing: 0.06em; text-align: right; color: #fff; min-width: 220px; }
.verdict small { display: block; font-size: 12px; font-weight: 500; letter-spacing: 0;
  opacity: 0.9; }
.verdict.failed { background: var(--high); }
.verdict.passed { background: #15803d; }
.stats { display: grid; grid-template-columns: repeat(5, 1fr); gap: 12px; margin-bottom: 16px; }
.stat, .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; }
.stat { padding: 12px 16px; color: var(--muted); }
.stat .num { display: block; font-size: 24px; font-weight: 700; color: var(--fg); }
.card { padding: 18px 20px; margin: 0 0 16px; }
.charts { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.charts figure { margin: 0 0 16px; }
figcaption { font-weight: 600; margin-bottom: 8px; }
.chart { max-width: 100%; height: auto; display: block; }
.chart .label { font-size: 13px; fill: #334155; }
.chart .count { font-size: 13px; font-weight: 700; fill: var(--fg); }
.filters { display: flex; flex-wrap: wrap; align-items: center; gap: 14px; margin: 0 0 16px; }
.filters label { text-transform: capitalize; cursor: pointer; }
.filters input[type=search] { margin-left: auto; min-width: 300px; padding: 6px 10px;
  border: 1px solid var(--line); border-radius: 6px; font: inherit; }
table { width: 100%; border-collapse: collapse; }
th { text-align: left; font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em;
  color: var(--muted); border-bottom: 2px solid var(--line); padding: 6px 10px; }
td { border-bottom: 1px solid var(--line); padding: 9px 10px; vertical-align: top;
  overflow-wrap: anywhere; }
tbody tr:last-child td { border-bottom: none; }
table.kv { width: auto; min-width: 360px; }
table.kv td:first-child { padding-right: 48px; color: #334155; }
table.findings td.id { font-weight: 700; white-space: nowrap; width: 90px; }
table.findings td.obj { width: 22%; }
table.findings td.loc { width: 20%; }
.fix, .why, .details { color: #475569; font-size: 13px; margin-top: 4px; }
.why { color: #92400e; }
.details span { display: inline-block; background: #f1f5f9; border-radius: 4px;
  padding: 0 6px; margin: 2px 6px 0 0; }
.badge { display: inline-block; color: #fff; border-radius: 999px; padding: 2px 10px;
  font-size: 12px; text-transform: uppercase; letter-spacing: 0.05em; }
.badge.sev-critical { background: var(--critical); }
.badge.sev-high { background: var(--high); }
.badge.sev-medium { background: var(--medium); }
.badge.sev-low { background: var(--low); }
.badge.sev-info { background: var(--info); }
.group { border-left: 5px solid var(--line); }
.group[data-sev=critical] { border-left-color: var(--critical); }
.group[data-sev=high] { border-left-color: var(--high); }
.group[data-sev=medium] { border-left-color: var(--medium); }
.group[data-sev=low] { border-left-color: var(--low); }
.group[data-sev=info] { border-left-color: var(--info); }
.suppressed td { color: #475569; }
.also { color: var(--muted); font-size: 12px; margin-top: 4px; }
.also summary { cursor: pointer; }
.also ul { margin: 2px 0 0; padding-left: 18px; }
footer { color: var(--muted); font-size: 12px; margin-top: 24px; text-align: center; }
[hidden] { display: none !important; }
@media (max-width: 800px) {
  .charts, .stats { grid-template-columns: 1fr; }
  .top { flex-direction: column; }
}
@media print { .filters { display: none !important; } .card { break-inside: avoid; } }
"""

JS = """
(function () {
  var bar = document.getElementById("filters");
  if (!bar) { return; }
  bar.hidden = false;
  var boxes = bar.querySelectorAll("input[type=checkbox]");
  var search = document.getElementById("search");
  function apply() {
    var shown = {};
    boxes.forEach(function (box) { shown[box.dataset.sev] = box.checked; });
    var needle = search.value.trim().toLowerCase();
    document.querySelectorAll("section.group").forEach(function (group) {
      var visible = 0;
      group.querySelectorAll("tbody tr").forEach(function (row) {
        var ok = shown[row.dataset.sev] &&
          (!needle || row.textContent.toLowerCase().indexOf(needle) >= 0);
        row.hidden = !ok;
        if (ok) { visible += 1; }
      });
      group.hidden = visible === 0;
    });
  }
  boxes.forEach(function (box) { box.addEventListener("change", apply); });
  search.addEventListener("input", apply);
})();
"""
