import type { Finding, Report, ReportEnvironment } from '../protocol/report-api.js';
import { NOTE_SECTIONS, type NoteRecord } from '../protocol/note-api.js';
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
  tallyParts,
} from './report-phrases.js';
import { cleanReport, formatDuration, formatTime, oneLine } from './report-text.js';

/** How wide the report tries to stay, in columns. */
const WIDTH = 100;

type Style = 'bold' | 'dim' | 'red' | 'yellow' | 'green' | 'cyan';
const SGR: Record<Style, string> = {
  bold: '1',
  dim: '2',
  red: '31',
  yellow: '33',
  green: '32',
  cyan: '36',
};

/** Paints a text when colour is on; the only place escape sequences are written. */
type Paint = (style: Style, text: string) => string;

const IMPACT_STYLE: Record<string, Style> = {
  blocker: 'red',
  major: 'yellow',
  minor: 'cyan',
  nil: 'dim',
};
const STATE_STYLE: Record<string, Style> = { succeeded: 'green', failed: 'red', running: 'yellow' };

/**
 * Words of `text` in lines of at most `width` columns, the first starting
 * with `first` and the others with `rest`; a word longer than a line is cut.
 */
function wrap(text: string, first: string, rest = first, width = WIDTH): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = lines.length === 0 ? first : rest;
    let empty = true;
    for (let word of paragraph.split(/[ \t]+/).filter((w) => w !== '')) {
      if (!empty && line.length + 1 + word.length > width) {
        lines.push(line);
        line = rest;
        empty = true;
      }
      while (empty && line.length + word.length > width && width - line.length > 10) {
        lines.push(line + word.slice(0, width - line.length));
        word = word.slice(width - line.length);
        line = rest;
      }
      line += (empty ? '' : ' ') + word;
      empty = false;
    }
    lines.push(line);
  }
  return lines;
}

/** A quoted line of output, never re-flowed: cut into pieces of the width, each marked as a quote. */
function quote(text: string, indent: string): string[] {
  const mark = `${indent}| `;
  const room = Math.max(WIDTH - mark.length, 20);
  const pieces: string[] = [];
  for (let i = 0; i < Math.max(text.length, 1); i += room) pieces.push(text.slice(i, i + room));
  return pieces.map((piece, i) => (i === 0 ? mark : `${indent}: `) + piece);
}

/** Parts joined with ` · `, wrapped between parts where the line is full. */
function parts(items: string[], first: string, rest: string): string[] {
  const lines: string[] = [];
  let line = first;
  for (const [i, item] of items.entries()) {
    const piece = i === 0 ? item : ` · ${item}`;
    if (i > 0 && line.length + piece.length > WIDTH) {
      lines.push(line);
      line = rest + item;
    } else line += piece;
  }
  lines.push(line);
  return lines.flatMap((l) => (l.length > WIDTH ? wrap(l.trimStart(), rest) : [l]));
}

function summary(report: Report, paint: Paint): string[] {
  const s = report.summary;
  const out = [paint('bold', 'SUMMARY'), ...wrap(oneLine(s.headline), '  '), ''];
  out.push('  Bundles');
  if (report.bundles.length === 0) out.push('    No bundles.');
  for (const b of report.bundles)
    out.push(...parts([bundleName(b.app, b.version), ...bundleFacts(b)], '    ', '      '));
  out.push('', '  Paths');
  if (s.paths.length === 0) out.push('    No paths.');
  for (const p of s.paths) {
    const stops = p.stops.length === 0 ? ['no stops yet'] : p.stops.map(describeStop);
    out.push(...wrap(`${bundleName(p.app, p.version)}: ${stops.join(' -> ')}`, '    ', '      '));
    out.push(`      ${describeLeadTime(p.leadTimeMs)}`);
  }
  out.push('', '  Environments');
  if (s.tallies.length === 0) out.push('    No deployments yet.');
  for (const t of s.tallies)
    out.push(
      ...wrap(
        `${oneLine(t.env)} ${bundleName(t.app, t.version)}: ${tallyParts(t).join(', ')}`,
        '    ',
        '      ',
      ),
    );
  out.push('', '  Blockers');
  if (s.blockers.length === 0) out.push('    Nothing blocked.');
  for (const blocker of s.blockers)
    out.push(...wrap(oneLine(blocker), '    - ', '      ').map((l) => paint('red', l)));
  out.push('', `  ${summaryCounts(s)}`);
  return out;
}

function finding(report: Report, f: Finding, index: number, paint: Paint): string[] {
  const impact = findingImpact(f);
  const head = wrap(
    `${index + 1}. [${impact}] ${oneLine(f.title)} (${findingPlace(f)})`,
    '  ',
    '     ',
  );
  const style = IMPACT_STYLE[f.confirmedBy?.impact ?? f.suggestedImpact] ?? 'bold';
  head[0] = head[0]!.replace(`[${impact}]`, paint(style, `[${impact}]`));
  const out = head;
  if (f.entries.length === 0) out.push('     Nothing to show by host.');
  for (const entry of f.entries) {
    out.push(...wrap(describeEntry(entry), '     ', '       '));
    if (entry.quote !== null) out.push(...quote(oneLine(entry.quote), '       '));
  }
  // The command stays on one line, whatever its length: it is there to be copied.
  out.push(
    paint('dim', `     key ${f.key}; confirm it as a note with:`),
    paint('dim', `     ${confirmCommand(report, f)}`),
  );
  return out;
}

function note(n: NoteRecord, index: number, paint: Paint): string[] {
  const tag = `[${n.impact}]`;
  const out = wrap(`${index + 1}. ${tag} ${n.text}`, '    ', '       ');
  out[0] = out[0]!.replace(tag, paint(IMPACT_STYLE[n.impact] ?? 'bold', tag));
  out.push(...parts(noteFacts(n), '       ', '       ').map((l) => paint('dim', l)));
  if (n.actions.length === 0) out.push('       No actions.');
  for (const a of n.actions) {
    const state = `[${actionState(a)}]`;
    const lines = wrap(
      `${state} ${oneLine(a.owner)}: ${oneLine(a.text)} (${actionFacts(a)})`,
      '       ',
      '         ',
    );
    lines[0] = lines[0]!.replace(state, paint(a.done ? 'green' : 'yellow', state));
    out.push(...lines);
  }
  return out;
}

function environment(env: ReportEnvironment, paint: Paint): string[] {
  const out = [`  ${paint('bold', oneLine(env.env))}`];
  if (env.deployments.length === 0) out.push('    No deployments.');
  for (const d of env.deployments) {
    out.push(...wrap(describeDeployment(d), '    ', '      '));
    if (d.error !== null) out.push(...wrap(`error: ${oneLine(d.error)}`, '      ', '        '));
  }
  if (env.hosts.length === 0) out.push('    No hosts with installs.');
  for (const host of env.hosts) {
    out.push(`    ${paint('bold', oneLine(host.host))}`);
    if (host.installs.length === 0) out.push('      No installs.');
    for (const install of host.installs) {
      const line = wrap(describeInstall(install), '      ', '        ');
      const style = STATE_STYLE[install.state];
      if (style !== undefined)
        line[0] = line[0]!.replace(`: ${install.state}`, `: ${paint(style, install.state)}`);
      out.push(...line);
      const width = Math.max(0, ...install.steps.map((s) => oneLine(s.step).length));
      for (const step of install.steps) {
        const outcome = stepOutcome(step);
        const painted = STATE_STYLE[step.state]
          ? paint(STATE_STYLE[step.state]!, outcome)
          : outcome;
        out.push(
          `        ${oneLine(step.step).padEnd(width)}  ${formatDuration(step.durationMs).padStart(9)}  ${painted}`,
        );
      }
      const failure = install.failure;
      if (failure === null) continue;
      out.push(
        ...wrap(describeFailure(failure), '        ', '          ').map((l) => paint('red', l)),
      );
      if (failure.lastLines.length === 0) out.push('          No output.');
      for (const l of failure.lastLines) out.push(...quote(oneLine(l), '          '));
      out.push(`        full log: ${failure.logsCommand}`);
    }
  }
  return out;
}

/**
 * The release report as plain text for a terminal, about 100 columns wide:
 * summary, numbered findings, notes by section, then every environment host
 * by host. Colour (ANSI) only with `color: true`; whatever the report holds
 * is cleaned of escape sequences first, so only this renderer writes them.
 *
 * @example
 *   process.stdout.write(renderTerminal(report, { color: process.stdout.isTTY }));
 */
export function renderTerminal(report: Report, options: { color?: boolean } = {}): string {
  const paint: Paint = options.color
    ? (style, text) => `\x1b[${SGR[style]}m${text}\x1b[0m`
    : (_style, text) => text;
  const r = cleanReport(report);
  const out = [
    paint('bold', reportTitle(r)),
    `generated ${formatTime(r.generatedAt)}`,
    '',
    ...summary(r, paint),
    '',
    paint('bold', 'FINDINGS'),
  ];
  if (r.findings.length === 0) out.push('  No findings.');
  r.findings.forEach((f, i) => out.push(...(i > 0 ? [''] : []), ...finding(r, f, i, paint)));
  out.push('', paint('bold', 'NOTES'));
  for (const section of NOTE_SECTIONS) {
    const words = NOTE_SECTION_WORDS[section];
    const notes = r.notes.find((s) => s.section === section)?.notes ?? [];
    out.push(`  ${words.title}`);
    if (notes.length === 0) out.push(`    ${words.empty}`);
    notes.forEach((n, i) => out.push(...note(n, i, paint)));
  }
  out.push('', paint('bold', 'ENVIRONMENTS'));
  if (r.environments.length === 0) out.push('  No environments.');
  r.environments.forEach((env, i) => out.push(...(i > 0 ? [''] : []), ...environment(env, paint)));
  return `${out.join('\n')}\n`;
}
