/**
 * The style sheet of the HTML report, inlined in its `<style>`: system fonts
 * only (nothing to fetch), one column that fits a phone, tables that scroll
 * sideways inside their box rather than widen the page, and a print form in
 * black and white where no finding, note or install is cut by a page break.
 * Impacts and states are said in words as well as colours, so they survive a
 * black-and-white printer.
 */
export const REPORT_CSS = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa;
  --red: #b42318; --red-bg: #fef3f2; --amber: #8a5a00; --amber-bg: #fff8e6; --blue: #175cd3;
  --blue-bg: #eff8ff; --green: #067647; --green-bg: #ecfdf3; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff; font: 15px/1.5 system-ui, -apple-system,
  "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 62rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2rem 0 .75rem; padding-bottom: .25rem; border-bottom: 2px solid var(--ink); }
h3 { font-size: 1.1rem; margin: 1.25rem 0 .5rem; }
h4 { font-size: 1rem; margin: 1rem 0 .4rem; }
p { margin: .4rem 0; }
ul, ol { margin: .4rem 0; padding-left: 1.5rem; }
small, .muted { color: var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: .88em; }
code { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 0 .25em;
  overflow-wrap: anywhere; }
pre { background: var(--soft); border: 1px solid var(--line); border-left: 4px solid var(--muted);
  border-radius: 4px; padding: .5rem .75rem; margin: .35rem 0; white-space: pre-wrap;
  overflow-wrap: anywhere; }
pre code { background: none; border: 0; padding: 0; font-size: 1em; }
.generated { color: var(--muted); margin-top: 0; }
.headline { font-size: 1.15rem; font-weight: 600; padding: .6rem .8rem; border: 1px solid var(--line);
  border-left: 6px solid var(--ink); border-radius: 4px; }
.headline.blocked { border-left-color: var(--red); background: var(--red-bg); }
.counts { font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .4rem 0; min-width: 100%; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
table.steps { min-width: 0; font-size: .92em; }
table.steps th, table.steps td { padding: .1rem .5rem; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.path { list-style: none; padding: 0; display: flex; flex-wrap: wrap; gap: .25rem .5rem; }
.path li::after { content: " \\2192"; color: var(--muted); }
.path li:last-child::after { content: ""; }
.findings, .notes { list-style: none; padding-left: 0; }
.findings > li, .notes > li { margin: .75rem 0; padding: .5rem .75rem; border: 1px solid var(--line);
  border-radius: 6px; }
.findings h3, .notes .text { margin: .1rem 0 .3rem; }
.notes .text { white-space: pre-wrap; overflow-wrap: anywhere; font-weight: 500; }
.impact, .state { display: inline-block; font-size: .8rem; font-weight: 700; text-transform: uppercase;
  letter-spacing: .03em; border: 1.5px solid currentColor; border-radius: 4px; padding: 0 .35em;
  margin-right: .4em; vertical-align: .1em; }
.impact-blocker { color: var(--red); background: var(--red-bg); }
.impact-major { color: var(--amber); background: var(--amber-bg); }
.impact-minor { color: var(--blue); background: var(--blue-bg); }
.impact-nil { color: var(--muted); }
.state-succeeded, .state-done { color: var(--green); }
.state-failed { color: var(--red); }
.state-running, .state-open { color: var(--amber); }
.state-rolled-back { color: var(--amber); }
.entries { padding-left: 1.1rem; }
.entries li { margin: .3rem 0; }
.key { margin-top: .5rem; }
.actions { list-style: none; padding-left: .25rem; }
.actions li { margin: .2rem 0; }
.install { margin: .5rem 0 .9rem; padding: .4rem .6rem; border-left: 4px solid var(--line); }
.install.failed { border-left-color: var(--red); }
.install .line { font-weight: 600; margin: 0 0 .25rem; }
.failure { border: 1px solid var(--red); background: var(--red-bg); border-radius: 4px;
  padding: .4rem .6rem; margin-top: .4rem; }
.empty { color: var(--muted); font-style: italic; }
@media (max-width: 40rem) {
  body { font-size: 14px; }
  main { padding: 1rem .6rem 2rem; }
  h1 { font-size: 1.3rem; }
}
@media print {
  :root { --muted: #333; --line: #999; --soft: #fff; }
  body { font-size: 10.5pt; color: #000; }
  main { max-width: none; padding: 0; }
  .impact, .state, .headline, .failure, .findings > li, .notes > li, pre, code {
    color: #000 !important; background: #fff !important; }
  .findings > li, .notes > li, .install, .failure, tr, pre { break-inside: avoid; page-break-inside: avoid; }
  h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  .scroll { overflow: visible; }
}
`;
