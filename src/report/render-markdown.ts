import { NOTE_SECTIONS, type NoteRecord } from '../protocol/note-api.js';
import type { Finding, Report, ReportEnvironment, ReportInstall } from '../protocol/report-api.js';
import {
  NOTE_SECTION_WORDS,
  actionFacts,
  actionState,
  bundleFacts,
  bundleName,
  confirmCommand,
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

/**
 * Text of the report on one line, as Markdown shows it and never reads it:
 * every character that could start markup (emphasis, links and images, HTML,
 * entities, code, table cells, strikethrough, maths) is escaped with a
 * backslash, and bare addresses are kept from being linked (`breakAutolinks`). A `#` matters only at the start of a line or in a heading
 * (`markdownHeading`), a `(` only after a `]`, which is escaped.
 */
export function markdownText(text: string): string {
  return breakAutolinks(oneLine(text).replace(/[\\`*_[\]<>|~&$]/g, '\\$&'));
}

/**
 * GFM links bare `https://…`, `www.…` and e-mail addresses by itself; text a
 * host reported (an os or runtime string) must not become a link. A backslash
 * before the `:` of `://`, the `.` after `www` and the `@` of an address (one
 * with a dot after it: `cart@12` is a bundle) shows the same text unlinked.
 */
function breakAutolinks(escaped: string): string {
  return (
    escaped
      .replace(/:\/\//g, '\\://')
      // Not `\b`: GFM links a `www.` after `_` or `~` too, which `\b` misses.
      .replace(/(?<![A-Za-z0-9])(www)\./gi, '$1\\.')
      .replace(/@(?=[^\s@]*\.[A-Za-z0-9])/g, '\\@')
  );
}

/** A heading's text: escaped, `#` too (a heading's trailing `#`s would be dropped). */
export function markdownHeading(text: string): string {
  return markdownText(text).replace(/#/g, '\\#');
}

/**
 * Several lines of text (a note) as lines of Markdown: each escaped, with
 * what could start a block at the beginning of a line (a list, a heading's
 * underline, an indented code block) made plain, and lines ending in hard
 * breaks so that they stay lines. Blank lines stay paragraph breaks.
 */
export function markdownLines(text: string): string[] {
  const lines = text
    .replace(/\t/g, ' ')
    .split('\n')
    .map((line) =>
      markdownText(line.trim())
        .replace(/^[-+=#]/, '\\$&')
        .replace(/^(\d+)([.)])/, '$1\\$2'),
    );
  return lines.map((line, i) => (line !== '' && (lines[i + 1] ?? '') !== '' ? `${line}\\` : line));
}

/** The longest run of backticks in a text. */
function longestBacktickRun(text: string): number {
  return Math.max(0, ...(text.match(/`+/g) ?? []).map((run) => run.length));
}

/**
 * A code span that no text can end early: its fence is longer than any run
 * of backticks inside; spaces pad it when it starts or ends with a backtick or
 * a space (CommonMark strips one each side).
 */
export function markdownCode(text: string): string {
  const line = oneLine(text);
  const fence = '`'.repeat(longestBacktickRun(line) + 1);
  const pad = /^[` ]|[` ]$/.test(line) ? ' ' : '';
  return `${fence}${pad}${line}${pad}${fence}`;
}

/** A fenced code block that no line inside can close: the fence is longer than any backtick run. */
export function markdownCodeBlock(lines: string[]): string[] {
  const clean = lines.map(oneLine);
  const fence = '`'.repeat(Math.max(3, longestBacktickRun(clean.join('\n')) + 1));
  return [`${fence}text`, ...clean, fence];
}

function summary(report: Report): string[] {
  const s = report.summary;
  const out = ['## Summary', '', `**${markdownText(s.headline)}**`, '', '### Bundles', ''];
  if (report.bundles.length === 0) out.push('No bundles.');
  for (const b of report.bundles)
    out.push(
      `- **${markdownText(bundleName(b.app, b.version))}**: ${bundleFacts(b).map(markdownText).join(' · ')}`,
    );
  out.push('', '### Paths', '');
  if (s.paths.length === 0) out.push('No paths.');
  for (const p of s.paths) {
    const stops = p.stops.length === 0 ? ['no stops yet'] : p.stops.map(describeStop);
    out.push(
      `- **${markdownText(bundleName(p.app, p.version))}**: ${stops.map(markdownText).join(' → ')} ` +
        `(${markdownText(describeLeadTime(p.leadTimeMs))})`,
    );
  }
  out.push('', '### Environments', '');
  if (s.tallies.length === 0) out.push('No deployments yet.');
  else {
    out.push(
      '| environment | bundle | hosts | installed | failed | rolled back | away | running now |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const t of s.tallies)
      out.push(
        `| ${markdownText(t.env)} | ${markdownText(bundleName(t.app, t.version))} | ${t.hosts} | ` +
          `${t.installed} | ${t.failed} | ${t.rolledBack} | ${t.away} | ${t.runningNow} |`,
      );
  }
  out.push('', '### Blockers', '');
  if (s.blockers.length === 0) out.push('Nothing blocked.');
  for (const blocker of s.blockers) out.push(`- ${markdownText(blocker)}`);
  out.push('', `${summaryCounts(s)}.`);
  return out;
}

function finding(report: Report, f: Finding, index: number): string[] {
  const out = [
    `### ${index + 1}. ${markdownHeading(f.title)}`,
    '',
    `**${markdownText(findingImpact(f))}** · ${markdownText(findingPlace(f))}`,
    '',
  ];
  if (f.entries.length === 0) out.push('Nothing to show by host.');
  for (const entry of f.entries) {
    out.push(`- ${markdownText(describeEntry(entry))}${entry.quote === null ? '' : '\\'}`);
    if (entry.quote !== null) out.push(`  ${markdownCode(entry.quote)}`);
  }
  out.push(
    '',
    `Key ${markdownCode(f.key)}; to confirm it as a note: ${markdownCode(confirmCommand(report, f))}`,
  );
  return out;
}

function note(n: NoteRecord, index: number): string[] {
  const [first = '', ...rest] = markdownLines(n.text);
  const number = `${index + 1}. `;
  const indent = ' '.repeat(number.length);
  const out = [
    `${number}**${n.impact}**: ${first}`,
    ...rest.map((l) => (l === '' ? '' : indent + l)),
  ];
  out.push('', indent + noteFacts(n).map(markdownText).join(' · '), '');
  if (n.actions.length === 0) out.push(`${indent}No actions.`);
  for (const a of n.actions)
    out.push(
      `${indent}- [${a.done ? 'x' : ' '}] ${actionState(a)}: **${markdownText(a.owner)}**: ` +
        `${markdownText(a.text)} (${markdownText(actionFacts(a))})`,
    );
  out.push('');
  return out;
}

function install(i: ReportInstall): string[] {
  const out = [`**${markdownText(describeInstall(i))}**`, ''];
  if (i.steps.length === 0) out.push('No steps ran.');
  for (const step of i.steps)
    out.push(
      `- ${markdownText(step.step)}: ${markdownText(stepOutcome(step))}, ${formatDuration(step.durationMs)}`,
    );
  out.push('');
  if (i.failure === null) return out;
  out.push(`${markdownText(describeFailure(i.failure))}.`, '');
  if (i.failure.lastLines.length === 0) out.push('No output.', '');
  else out.push('Last lines of its output:', '', ...markdownCodeBlock(i.failure.lastLines), '');
  out.push(`Full log: ${markdownCode(i.failure.logsCommand)}`, '');
  return out;
}

function environment(env: ReportEnvironment): string[] {
  const out = [`### ${markdownHeading(env.env)}`, ''];
  if (env.deployments.length === 0) out.push('No deployments.');
  for (const d of env.deployments)
    out.push(
      `- ${markdownText(describeDeployment(d))}${d.error === null ? '' : `; error: ${markdownText(d.error)}`}`,
    );
  out.push('');
  if (env.hosts.length === 0) out.push('No hosts with installs.', '');
  for (const host of env.hosts) {
    out.push(`#### ${markdownHeading(host.host)}`, '');
    if (host.installs.length === 0) out.push('No installs.', '');
    for (const i of host.installs) out.push(...install(i));
  }
  return out;
}

/**
 * The release report as Markdown (CommonMark with GitHub's tables and task
 * lists), for a wiki or an e-mail: summary, numbered findings, notes by
 * section, every environment host by host. All text of the report is data:
 * escaped, or quoted in code spans and fenced blocks that it cannot close.
 *
 * @example
 *   await writeFile('report-0.4.0.md', renderMarkdown(report));
 */
export function renderMarkdown(report: Report): string {
  const r = cleanReport(report);
  const out = [
    `# ${markdownHeading(reportTitle(r))}`,
    '',
    `Generated ${formatTime(r.generatedAt)}.`,
    '',
  ];
  out.push(...summary(r), '', '## Findings', '');
  if (r.findings.length === 0) out.push('No findings.', '');
  r.findings.forEach((f, i) => out.push(...finding(r, f, i), ''));
  out.push('## Notes', '');
  for (const section of NOTE_SECTIONS) {
    const words = NOTE_SECTION_WORDS[section];
    const notes = r.notes.find((s) => s.section === section)?.notes ?? [];
    out.push(`### ${words.title}`, '');
    if (notes.length === 0) out.push(words.empty, '');
    notes.forEach((n, i) => out.push(...note(n, i)));
  }
  out.push('## Environments', '');
  if (r.environments.length === 0) out.push('No environments.', '');
  for (const env of r.environments) out.push(...environment(env));
  return `${out.join('\n').trimEnd()}\n`;
}
