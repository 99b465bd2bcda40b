import type { HostRecord } from '../../protocol/api.js';
import type { AppStatus, HostStatus } from '../../protocol/deployment-api.js';
import type { HostFacts } from '../../protocol/host-facts.js';
import type { Drift } from '../../protocol/report-api.js';

/**
 * The hosts page's data, put together: each host with what it runs (from
 * `status`), its key facts in words, and the values in which it differs from
 * the other hosts of its environment (from `drift`), so the page can mark
 * exactly the cell that drifts. Pure, for the page and its tests.
 *
 * @example
 *   const marks = driftMarks(drift);
 *   marks.get('qa/qa-3')?.get('runtime:node'); // { odd: true, text: 'node differs …' }
 */

/** What one app is on one host: its version against the desired one, health, last install. */
export interface HostApp {
  readonly app: string;
  readonly version: number | null;
  readonly desired: number | null;
  readonly health: HostStatus['health'];
  readonly lastInstall: HostStatus['lastInstall'];
  /** Continuous health as the agent last reported it; null when it reported none. */
  readonly service: NonNullable<HostStatus['service']> | null;
}

export interface HostRow {
  readonly host: HostRecord;
  readonly apps: readonly HostApp[];
}

/** Each host with the apps `status` says it has, in the order of the hosts' list. */
export function hostRows(hosts: readonly HostRecord[], status: readonly AppStatus[]): HostRow[] {
  const byHost = new Map<string, HostApp[]>();
  for (const app of status) {
    for (const env of app.environments) {
      for (const host of env.hosts) {
        const list = byHost.get(`${env.env}/${host.host}`) ?? [];
        list.push({
          app: app.app,
          version: host.version,
          desired: env.desired?.version ?? null,
          health: host.health,
          lastInstall: host.lastInstall,
          service: host.service ?? null,
        });
        byHost.set(`${env.env}/${host.host}`, list);
      }
    }
  }
  return hosts.map((host) => ({ host, apps: byHost.get(`${host.env}/${host.name}`) ?? [] }));
}

/** What the list is narrowed to: an environment, a role, words in the name, roles, OS or apps. */
export interface HostFilter {
  env?: string;
  role?: string;
  text?: string;
}

export function filterHosts(rows: readonly HostRow[], filter: HostFilter): HostRow[] {
  const words = (filter.text ?? '').toLowerCase().split(/\s+/).filter(Boolean);
  return rows.filter(({ host, apps }) => {
    if (filter.env && host.env !== filter.env) return false;
    if (filter.role && !host.roles.includes(filter.role)) return false;
    if (words.length === 0) return true;
    const haystack = [
      host.name,
      host.env,
      ...host.roles,
      host.facts?.os ?? '',
      ...apps.map((a) => `${a.app}@${a.version ?? ''}`),
    ]
      .join(' ')
      .toLowerCase();
    return words.every((word) => haystack.includes(word));
  });
}

/** One host's value that differs from others of its environment. */
export interface DriftMark {
  /** True when this host is the odd one out (not on the most common value, or not on the desired release). */
  readonly odd: boolean;
  /** The whole difference in words, for a title and the drift list. */
  readonly text: string;
}

/** The key of a value on the page: `os`, `kernel`, `agent`, `runtime:node`, `release:cart`, `config:cart:REDIS_HOST`. */
export function driftField(drift: Pick<Drift, 'aspect' | 'name' | 'app'>): string {
  switch (drift.aspect) {
    case 'runtime':
      return `runtime:${drift.name}`;
    case 'release':
      return `release:${drift.app ?? drift.name}`;
    case 'config':
      return `config:${drift.app ?? ''}:${drift.name}`;
    default:
      return drift.aspect;
  }
}

/**
 * Every host's drifting values, by `env/host` and field. With several drifts
 * of one field (a runtime compared in two roles), the first that marks the
 * host odd wins.
 */
export function driftMarks(drift: readonly Drift[]): Map<string, Map<string, DriftMark>> {
  const marks = new Map<string, Map<string, DriftMark>>();
  for (const d of drift) {
    const field = driftField(d);
    const text = driftText(d);
    d.values.forEach((value, index) => {
      const odd = d.expected !== null ? value.value !== d.expected : index > 0;
      for (const host of value.hosts) {
        const key = `${d.env}/${host}`;
        let fields = marks.get(key);
        if (!fields) {
          fields = new Map();
          marks.set(key, fields);
        }
        const known = fields.get(field);
        if (!known || (!known.odd && odd)) fields.set(field, { odd, text });
      }
    });
  }
  return marks;
}

/** `node differs among qa's web hosts: 20.11.1 on qa-1, qa-2; 18.19.0 on qa-3`. */
export function driftText(d: Drift): string {
  const among = d.role === null ? `in ${d.env}` : `among ${d.env}'s ${d.role} hosts`;
  const what =
    d.aspect === 'release'
      ? `${d.name}'s release differs in ${d.env}${d.expected === null ? '' : ` (desired: ${d.app ?? d.name}@${d.expected})`}`
      : d.aspect === 'config'
        ? `${d.name} of ${d.app ?? '?'} differs ${among}`
        : `${d.name} differs ${among}`;
  const values = d.values
    .map(
      (v) =>
        `${v.value === null ? '(none)' : d.aspect === 'release' ? `@${v.value}` : v.value} on ${v.hosts.join(', ')}`,
    )
    .join('; ');
  return `${what}: ${values}`;
}

/** A host's key facts as the list shows them; an em dash for what it did not report. */
export interface FactSummary {
  readonly os: string;
  readonly node: string;
  readonly python: string;
  readonly disk: string;
  readonly memory: string;
  readonly load: string;
}

export function factSummary(facts: HostFacts | null): FactSummary {
  const dash = '—';
  if (facts === null) {
    return { os: dash, node: dash, python: dash, disk: dash, memory: dash, load: dash };
  }
  const disk = facts.disks[0];
  return {
    os: facts.os ?? dash,
    node: facts.runtimes.node ?? dash,
    python: facts.runtimes.python3 ?? dash,
    disk:
      disk === undefined || disk.freeBytes === null
        ? dash
        : `${formatBytes(disk.freeBytes)} free${disk.sizeBytes === null ? '' : ` of ${formatBytes(disk.sizeBytes)}`}`,
    memory:
      facts.memory === null || facts.memory.totalBytes === null
        ? dash
        : `${facts.memory.freeBytes === null ? '' : `${formatBytes(facts.memory.freeBytes)} free of `}${formatBytes(facts.memory.totalBytes)}`,
    load:
      facts.load === null || facts.load.length === 0
        ? dash
        : facts.load.map((l) => l.toFixed(2)).join(' '),
  };
}

/** Bytes in binary units: `512 B`, `1.5 KiB`, `12.3 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0
    ? `${value} B`
    : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}
