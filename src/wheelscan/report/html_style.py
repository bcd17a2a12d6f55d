"""The stylesheet of the HTML report, inlined into the page: it must render offline, alone."""

from __future__ import annotations

CSS = """
:root {
  --bg: #f5f6fa; --card: #ffffff; --ink: #1d2433; --muted: #667085; --line: #e4e7ec;
  --accent: #4263eb; --musl: #0c8599; --linux: #e03131; --good: #2f9e44; --bad: #e03131;
  --warn: #e8590c; --error: #ae3ec9; --zebra: #f9fafb; --android: #5c940d;
  --mono: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace;
  color-scheme: light dark;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #10131a; --card: #181c25; --ink: #e6e8ee; --muted: #98a2b3; --line: #2a3040;
          --accent: #748ffc; --musl: #3bc9db; --linux: #ff6b6b; --good: #51cf66;
          --bad: #ff6b6b; --warn: #ff922b; --error: #da77f2; --zebra: #1c212b;
          --android: #94d82d; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
header { background: linear-gradient(120deg, #27348b, #4263eb 60%, #0c8599); color: #fff;
         padding: 28px 0 76px; }
header h1 { margin: 0; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
header p { margin: 4px 0 0; opacity: 0.85; }
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
main.wrap { margin-top: -56px; padding-bottom: 40px; }
h2 { font-size: 16px; margin: 0 0 12px; font-weight: 650; }
h2 small { font-weight: 400; color: var(--muted); font-size: 13px; margin-left: 6px; }
section > h2.band { font-size: 19px; margin: 34px 0 14px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px;
        padding: 18px 20px; box-shadow: 0 1px 2px rgba(16, 24, 40, 0.06); min-width: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); gap: 16px;
        align-items: start; }
.grid.three { grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); }
.stack > * + * { margin-top: 16px; }
.kpis { display: grid; grid-template-columns: 2.4fr repeat(6, 1fr); gap: 12px; }
.kpi .value { display: block; font-size: 28px; font-weight: 700; line-height: 1.2;
              font-variant-numeric: tabular-nums; }
.kpi .label { color: var(--muted); font-size: 12.5px; }
.kpi.bad .value { color: var(--bad); } .kpi.warn .value { color: var(--warn); }
.kpi.error .value { color: var(--error); }
.kpi.compliance { display: flex; align-items: center; gap: 16px; }
.donut { width: 86px; height: 86px; flex: none; }
.donut .track { stroke: var(--line); } .donut .fill { stroke: var(--good); }
.donut text { fill: var(--ink); font-weight: 700; font-size: 17px; }
svg.chart { width: 100%; height: auto; display: block; overflow: visible; }
svg .label { font: 12px var(--mono); fill: var(--ink); }
svg .value { font: 600 12px system-ui, sans-serif; fill: var(--muted); }
svg .axis { font: 11px system-ui, sans-serif; fill: var(--muted); }
svg .grid { stroke: var(--line); stroke-width: 1; }
.legend { display: flex; gap: 14px; color: var(--muted); font-size: 12.5px; margin: 0 0 8px; }
.legend i { display: inline-block; width: 10px; height: 10px; border-radius: 3px;
            margin-right: 5px; vertical-align: -1px; }
.note, .empty { color: var(--muted); font-size: 12.5px; margin: 8px 0 0; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th { text-align: left; color: var(--muted); font-weight: 600; font-size: 12px;
     border-bottom: 1px solid var(--line); padding: 6px 8px; white-space: nowrap; }
td { padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
tbody tr:nth-child(even) { background: var(--zebra); }
tbody tr:last-child td { border-bottom: none; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 12.5px var(--mono); overflow-wrap: anywhere; }
table.ranking { table-layout: fixed; }
table.ranking th.num { width: 64px; } table.ranking th.meter { width: 22%; }
code.tag, td.nowrap { white-space: nowrap; }
td.meter span { display: block; height: 8px; border-radius: 4px; background: var(--accent);
                min-width: 2px; margin-top: 6px; }
.bad td.meter span, td.meter.bad span { background: var(--bad); }
.pill { display: inline-block; padding: 0 7px; border-radius: 6px; font: 12px var(--mono);
        background: color-mix(in srgb, var(--accent) 12%, transparent); margin: 1px 2px 1px 0; }
.pill.bad { background: color-mix(in srgb, var(--bad) 13%, transparent); color: var(--bad); }
.zero { color: var(--muted); }
.hot { color: var(--bad); font-weight: 650; }
.status { background: color-mix(in srgb, var(--warn) 14%, transparent);
          border-radius: 8px; padding: 8px 12px; font-weight: 600; }
details { margin: 4px 0; } details ul { margin: 4px 0 8px; padding-left: 20px; }
summary { cursor: pointer; }
footer { color: var(--muted); font-size: 12.5px; text-align: center; padding: 24px 0 36px; }
@media (max-width: 900px) { .kpis { grid-template-columns: repeat(2, 1fr); }
                            .grid, .grid.three { grid-template-columns: 1fr; } }
"""
