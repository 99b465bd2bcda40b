import { NOTE_SECTIONS, type NoteRecord } from '../protocol/note-api.js';
import type { Finding, Report, ReportEnvironment, ReportInstall } from '../protocol/report-api.js';
import { REPORT_CSS } from './html-style.js';
import {
  NOTE_SECTION_WORDS,
  actionFacts,
  actionState,
  bundleFacts,
  bundleName,
  confirmCommand,
  currentImpact,
  describeDeployment,
  describeEntry,
  describeFailure,
  describeInstall,
  describeLeadTime,
  describeStop,
  findingImpact,
  findingPlace,
  noteFacts,
  reportTitle,
  stepOutcome,
  summaryCounts,
} from './report-phrases.js';
import { cleanReport, formatDuration, formatTime, oneLine } from './report-text.js';

/** The policy the page carries: nothing may load or run, only its own inline style. */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Text as HTML shows it and never reads it: `&`, `<`, `>`, `"` and `'` escaped. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** One line of text, escaped. */
const t = (text: string) => escapeHtml(oneLine(text));
const code = (text: string) => `<code>${t(text)}</code>`;
const empty = (words: string) => `<p class="empty">${t(words)}</p>`;
/** A class name made of a fixed word: only letters and dashes reach the attribute. */
const cls = (word: string) => word.replace(/[^a-z-]/g, '-');

function summary(report: Report): string[] {
  const s = report.summary;
  const out = [
    '<section id="summary">',
    '<h2>Summary</h2>',
    `<p class="headline${s.blockers.length > 0 ? ' blocked' : ''}">${t(s.headline)}</p>`,
    `<p class="counts">${t(summaryCounts(s))}</p>`,
    '<h3>Bundles</h3>',
  ];
  if (report.bundles.length === 0) out.push(empty('No bundles.'));
  else {
    out.push('<ul class="bundles">');
    for (const b of report.bundles)
      out.push(
        `<li><strong>${t(bundleName(b.app, b.version))}</strong>: ${bundleFacts(b).map(t).join(' · ')}</li>`,
      );
    out.push('</ul>');
  }
  out.push('<h3>Paths</h3>');
  if (s.paths.length === 0) out.push(empty('No paths.'));
  for (const p of s.paths) {
    out.push(
      `<h4>${t(bundleName(p.app, p.version))} <small>${t(describeLeadTime(p.leadTimeMs))}</small></h4>`,
    );
    if (p.stops.length === 0) out.push(empty('No stops yet.'));
    else
      out.push(
        `<ol class="path">${p.stops.map((stop) => `<li>${t(describeStop(stop))}</li>`).join('')}</ol>`,
      );
  }
  out.push('<h3>Environments</h3>');
  if (s.tallies.length === 0) out.push(empty('No deployments yet.'));
  else {
    const heads = [
      'environment',
      'bundle',
      'hosts',
      'installed',
      'failed',
      'rolled back',
      'away',
      'running now',
    ];
    out.push(
      '<div class="scroll"><table>',
      `<tr>${heads.map((h) => `<th>${h}</th>`).join('')}</tr>`,
    );
    for (const x of s.tallies) {
      const numbers = [x.hosts, x.installed, x.failed, x.rolledBack, x.away, x.runningNow];
      out.push(
        `<tr><td>${t(x.env)}</td><td>${t(bundleName(x.app, x.version))}</td>` +
          `${numbers.map((n) => `<td class="n">${n}</td>`).join('')}</tr>`,
      );
    }
    out.push('</table></div>');
  }
  out.push('<h3>Blockers</h3>');
  if (s.blockers.length === 0) out.push(empty('Nothing blocked.'));
  else out.push(`<ul class="blockers">${s.blockers.map((b) => `<li>${t(b)}</li>`).join('')}</ul>`);
  out.push('</section>');
  return out;
}

function finding(report: Report, f: Finding, index: number): string[] {
  const out = [
    `<li class="finding">`,
    `<h3>${index + 1}. <span class="impact impact-${cls(currentImpact(f))}">${t(findingImpact(f))}</span>${t(f.title)}</h3>`,
    `<p class="muted">${t(findingPlace(f))}</p>`,
  ];
  if (f.entries.length === 0) out.push(empty('Nothing to show by host.'));
  else {
    out.push('<ul class="entries">');
    for (const e of f.entries)
      out.push(
        `<li>${t(describeEntry(e))}${e.quote === null ? '' : `<pre><code>${t(e.quote)}</code></pre>`}</li>`,
      );
    out.push('</ul>');
  }
  out.push(
    `<p class="key"><small>Key ${code(f.key)}; to confirm it as a note: ${code(confirmCommand(report, f))}</small></p>`,
    '</li>',
  );
  return out;
}

function note(n: NoteRecord, index: number): string[] {
  const out = [
    '<li class="note">',
    `<p class="text">${index + 1}. <span class="impact impact-${cls(n.impact)}">${t(n.impact)}</span>${escapeHtml(n.text)}</p>`,
    `<p><small>${noteFacts(n).map(t).join(' · ')}</small></p>`,
  ];
  if (n.actions.length === 0) out.push(empty('No actions.'));
  else {
    out.push('<ul class="actions">');
    for (const a of n.actions) {
      const state = actionState(a);
      out.push(
        `<li><span class="state state-${state}">${a.done ? '&#9745;' : '&#9744;'} ${state}</span>` +
          `<strong>${t(a.owner)}</strong>: ${t(a.text)} <small>(${t(actionFacts(a))})</small></li>`,
      );
    }
    out.push('</ul>');
  }
  out.push('</li>');
  return out;
}

function install(i: ReportInstall): string[] {
  const out = [
    `<div class="install${i.state === 'failed' ? ' failed' : ''}">`,
    `<p class="line">${t(describeInstall(i))}</p>`,
  ];
  if (i.steps.length === 0) out.push(empty('No steps ran.'));
  else {
    out.push(
      '<div class="scroll"><table class="steps"><tr><th>step</th><th>took</th><th>outcome</th></tr>',
    );
    for (const step of i.steps)
      out.push(
        `<tr><td>${t(step.step)}</td><td class="n">${formatDuration(step.durationMs)}</td>` +
          `<td><span class="state state-${cls(step.state)}">${t(stepOutcome(step))}</span></td></tr>`,
      );
    out.push('</table></div>');
  }
  if (i.failure !== null) {
    const f = i.failure;
    out.push('<div class="failure">', `<p>${t(describeFailure(f))}</p>`);
    if (f.lastLines.length === 0) out.push(empty('No output.'));
    else out.push(`<pre><code>${f.lastLines.map(t).join('\n')}</code></pre>`);
    out.push(`<p>Full log: ${code(f.logsCommand)}</p>`, '</div>');
  }
  out.push('</div>');
  return out;
}

function environment(env: ReportEnvironment): string[] {
  const out = [`<h3>${t(env.env)}</h3>`];
  if (env.deployments.length === 0) out.push(empty('No deployments.'));
  else {
    out.push('<ul class="deployments">');
    for (const d of env.deployments)
      out.push(
        `<li>${t(describeDeployment(d))}${d.error === null ? '' : `<br><small>error: ${t(d.error)}</small>`}</li>`,
      );
    out.push('</ul>');
  }
  if (env.hosts.length === 0) out.push(empty('No hosts with installs.'));
  for (const host of env.hosts) {
    out.push(`<h4>${t(host.host)}</h4>`);
    if (host.installs.length === 0) out.push(empty('No installs.'));
    for (const i of host.installs) out.push(...install(i));
  }
  return out;
}

/**
 * The release report as one self-contained HTML page: inline style only, no
 * script, nothing fetched (a Content-Security-Policy says so to the
 * browser), printable and readable on a phone. Every text of the report is
 * escaped; step output is cleaned of escape sequences and shown as code.
 *
 * @example
 *   await writeFile('report-0.4.0.html', renderHtml(report));
 */
export function renderHtml(report: Report): string {
  const r = cleanReport(report);
  const title = t(reportTitle(r));
  const out = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${title}</title>`,
    `<style>${REPORT_CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<header><h1>${title}</h1><p class="generated">Generated ${formatTime(r.generatedAt)}</p></header>`,
    ...summary(r),
    '<section id="findings">',
    '<h2>Findings</h2>',
  ];
  if (r.findings.length === 0) out.push(empty('No findings.'));
  else
    out.push('<ol class="findings">', ...r.findings.flatMap((f, i) => finding(r, f, i)), '</ol>');
  out.push('</section>', '<section id="notes">', '<h2>Notes</h2>');
  for (const section of NOTE_SECTIONS) {
    const words = NOTE_SECTION_WORDS[section];
    const notes = r.notes.find((s) => s.section === section)?.notes ?? [];
    out.push(`<h3>${words.title}</h3>`);
    if (notes.length === 0) out.push(empty(words.empty));
    else out.push('<ol class="notes">', ...notes.flatMap((n, i) => note(n, i)), '</ol>');
  }
  out.push('</section>', '<section id="environments">', '<h2>Environments</h2>');
  if (r.environments.length === 0) out.push(empty('No environments.'));
  for (const env of r.environments) out.push(...environment(env));
  out.push('</section>', '</main>', '</body>', '</html>');
  return `${out.join('\n')}\n`;
}
