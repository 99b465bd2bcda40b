import type { FactChange, HostFacts } from './host-facts.js';

type Scalar = FactChange['from'];

/**
 * Facts that move on their own from one report to the next (CPU use, load, free memory
 * and disk, a service's uptime, the job under way): a change of these alone is
 * no change of the host, and is sampled only now and then.
 */
export function isVolatileFact(field: string): boolean {
  return (
    field === 'busy' ||
    field === 'cpuBusyPercent' ||
    field === 'memory.freeBytes' ||
    field.startsWith('load.') ||
    (field.startsWith('disk[') && field.endsWith('.freeBytes')) ||
    (field.startsWith('apps.') && field.endsWith('.service.uptimeSeconds'))
  );
}

/**
 * Every fact of a host as one flat map of dotted names to values, so that two
 * samples compare field by field. Secrets of a configuration appear as
 * `(secret)`: facts never hold their values.
 */
export function flattenFacts(facts: HostFacts): Map<string, Scalar> {
  const flat = new Map<string, Scalar>();
  const put = (field: string, value: Scalar) => flat.set(field, value);
  put('factsVersion', facts.factsVersion);
  for (const key of ['hostname', 'os', 'kernel', 'platform', 'arch', 'cpus'] as const)
    put(key, facts[key]);
  put('memory.totalBytes', facts.memory?.totalBytes ?? null);
  put('memory.freeBytes', facts.memory?.freeBytes ?? null);
  for (const disk of facts.disks) {
    put(`disk[${disk.mount}].sizeBytes`, disk.sizeBytes);
    put(`disk[${disk.mount}].freeBytes`, disk.freeBytes);
  }
  put('cpuBusyPercent', facts.cpuBusyPercent);
  (facts.load ?? []).forEach((load, i) => put(`load.${[1, 5, 15][i] ?? i}m`, load));
  for (const [name, version] of Object.entries(facts.runtimes)) put(`runtimes.${name}`, version);
  put('agentVersion', facts.agentVersion);
  put('roles', facts.roles.join(','));
  put('busy', facts.busy);
  for (const [app, a] of Object.entries(facts.apps)) {
    put(`apps.${app}.current`, a.current);
    put(`apps.${app}.previous`, a.previous);
    put(`apps.${app}.releases`, a.releases.join(','));
    put(`apps.${app}.health`, a.health);
    if (a.service) {
      put(`apps.${app}.service.running`, a.service.running);
      put(`apps.${app}.service.pid`, a.service.pid);
      put(`apps.${app}.service.uptimeSeconds`, a.service.uptimeSeconds);
      put(`apps.${app}.service.mergedOutput`, a.service.mergedOutput);
    }
    if (a.config) {
      put(`apps.${app}.config.installId`, a.config.installId);
      for (const v of a.config.vars)
        put(`apps.${app}.config.vars.${v.name}`, v.secret ? '(secret)' : v.value);
    }
  }
  return flat;
}

/**
 * What changed from one sample to the next, in a stable order; every fact of
 * `after` when there is no sample before it.
 *
 * @example
 *   factChanges(monday, tuesday);
 *   // [{ field: 'runtimes.node', from: '20.11.1', to: '22.3.0' }]
 */
export function factChanges(before: HostFacts | null, after: HostFacts): FactChange[] {
  const was = before ? flattenFacts(before) : new Map<string, Scalar>();
  const now = flattenFacts(after);
  const changes: FactChange[] = [];
  for (const field of new Set([...was.keys(), ...now.keys()])) {
    const from = was.get(field) ?? null;
    const to = now.get(field) ?? null;
    if (from !== to) changes.push({ field, from, to });
  }
  return changes.sort((a, b) => (a.field < b.field ? -1 : a.field > b.field ? 1 : 0));
}
