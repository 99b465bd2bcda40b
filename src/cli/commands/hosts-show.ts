import type { Command } from 'commander';
import { countTextSchema } from '../../protocol/fields.js';
import { isVolatileFact } from '../../protocol/host-facts-changes.js';
import type { FactChange, HostFacts, HostFactsAnswer } from '../../protocol/host-facts.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { parseArg } from '../parse-arg.js';
import { printable, printFields, printJson } from '../output.js';
import { formatBytes } from '../progress.js';

/** How many samples `--history` shows unless given a number. */
const DEFAULT_HISTORY = 20;

/** `ferry hosts show <name> [--history [N]]`: a host's facts, and how they changed. */
export function registerHostsShow(hosts: Command): void {
  hosts
    .command('show <name>')
    .description(
      "a host's facts: OS, CPUs, memory, disk, load, runtimes, and per app its releases, service and configuration",
    )
    .option(
      '--history [count]',
      `also the timeline of changes, newest first (the last ${DEFAULT_HISTORY} samples unless a count is given)`,
    )
    .action(async (name: string, options: { history?: string | true }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const history =
        options.history === undefined
          ? 0
          : options.history === true
            ? DEFAULT_HISTORY
            : parseArg(countTextSchema(1, 10_000), options.history, '--history');
      const answer = await (await connect(globals)).hostFacts(name, history);
      if (globals.json) {
        printJson(answer);
        return;
      }
      printFacts(answer);
      if (options.history !== undefined) printTimeline(answer);
    });
}

function printFacts(answer: HostFactsAnswer): void {
  const { facts } = answer;
  const head: [string, unknown][] = [
    ['host', `${answer.host} (${answer.hostId}) in ${answer.env}`],
    ['last seen', time(answer.lastSeenAt)],
  ];
  if (!facts) {
    printFields([...head, ['facts', 'none reported yet']]);
    return;
  }
  printFields([
    ...head,
    ['os', [facts.os, facts.kernel && `kernel ${facts.kernel}`].filter(Boolean).join(', ')],
    ['arch', [facts.platform, facts.arch].filter(Boolean).join(' ')],
    ['cpus', facts.cpus],
    ['memory', facts.memory && freeOf(facts.memory.freeBytes, facts.memory.totalBytes)],
    ...facts.disks.map((d): [string, unknown] => [
      `disk ${d.mount}`,
      freeOf(d.freeBytes, d.sizeBytes),
    ]),
    ['load', facts.load?.join(' ')],
    ['runtimes', runtimes(facts)],
    ['agent', facts.agentVersion],
    ['roles', facts.roles.join(', ')],
    ['busy with', facts.busy],
  ]);
  for (const [app, a] of Object.entries(facts.apps)) {
    const service = a.service
      ? a.service.running
        ? `running, pid ${a.service.pid ?? '?'}, up ${uptime(a.service.uptimeSeconds)}`
        : 'stopped'
      : null;
    process.stdout.write(`\n${printable(app)}\n`);
    printFields([
      ['  current', a.current],
      ['  releases', a.releases.join(', ')],
      ['  health', a.health],
      ['  service', service],
      [
        '  config',
        a.config?.vars.map((v) => `${v.name}=${v.secret ? '(secret)' : v.value}`).join(' '),
      ],
    ]);
  }
}

function printTimeline(answer: HostFactsAnswer): void {
  process.stdout.write('\nHistory (newest first):\n');
  if (answer.history.length === 0) {
    process.stdout.write('  no samples kept\n');
    return;
  }
  const oldest = answer.history.length - 1;
  answer.history.forEach((entry, i) => {
    // The first sample kept has none before it: every fact is a change from nothing.
    const first =
      i === oldest && entry.changes.some((c) => c.field === 'factsVersion' && c.from === null);
    // The changes of the host; load and free space only when nothing else changed.
    const host = entry.changes.filter((c) => !isVolatileFact(c.field));
    const what = first
      ? `first sample kept: ${runtimes(entry.facts)}`
      : (host.length > 0 ? host : entry.changes).map(change).join('; ') || 'no change';
    process.stdout.write(`  ${time(entry.at)}  ${printable(what)}\n`);
  });
}

function change({ field, from, to }: FactChange): string {
  const shown = (value: FactChange['from']) =>
    value === null
      ? '-'
      : field.endsWith('Bytes') && typeof value === 'number'
        ? formatBytes(value)
        : String(value);
  return `${field} ${shown(from)} → ${shown(to)}`;
}

function runtimes(facts: HostFacts): string {
  return Object.entries(facts.runtimes)
    .map(([name, version]) => `${name} ${version ?? '-'}`)
    .join(', ');
}

function freeOf(free: number | null, total: number | null): string {
  const size = (bytes: number | null) => (bytes === null ? '?' : formatBytes(bytes));
  return `${size(free)} free of ${size(total)}`;
}

function uptime(seconds: number | null): string {
  if (seconds === null) return '?';
  if (seconds < 120) return `${Math.round(seconds)}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)}h`;
  return `${Math.round(seconds / 86_400)}d`;
}

/** A time to the second: samples a few seconds apart must tell apart. */
function time(iso: string | null): string {
  return iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : '-';
}
