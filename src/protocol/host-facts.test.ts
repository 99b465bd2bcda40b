import { describe, expect, it } from 'vitest';
import { FerryError } from './errors.js';
import { factChanges, isVolatileFact } from './host-facts-changes.js';
import { HOST_FACTS_VERSION, type HostFactsInput, parseHostFacts } from './host-facts.js';

const report: HostFactsInput = {
  factsVersion: HOST_FACTS_VERSION,
  collectedAt: '2026-12-01T10:00:00.000Z',
  hostname: 'qa-1',
  os: 'Debian GNU/Linux 12 (bookworm)',
  kernel: '6.1.0-18-amd64',
  platform: 'linux',
  arch: 'x64',
  cpus: 4,
  memory: { totalBytes: 8e9, freeBytes: 2e9 },
  disks: [{ mount: '/', sizeBytes: 1e11, freeBytes: 4e10 }],
  cpuBusyPercent: 12.5,
  load: [0.5, 0.4, 0.3],
  runtimes: { node: '20.11.1', npm: '10.2.4', python3: null, pip: null },
  agentVersion: '0.1.0',
  roles: ['web'],
  busy: null,
  apps: {
    cart: {
      releases: [2, 3],
      current: 3,
      previous: 2,
      health: 'ok',
      service: {
        running: true,
        pid: 4242,
        uptimeSeconds: 60,
        mergedOutput: false,
        stdoutBytes: 1024,
      },
      config: {
        installId: 'ins_1',
        deploymentId: 'dep_1',
        vars: [
          { name: 'REDIS_HOST', value: 'redis.qa', secret: false },
          { name: 'TOKEN', value: null, secret: true },
        ],
      },
    },
  },
};

function problemsOf(raw: unknown): string[] {
  try {
    parseHostFacts(raw);
  } catch (err) {
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toBe('E_FACTS_INVALID');
    return (err as FerryError).details?.problems as string[];
  }
  throw new Error('the report was accepted');
}

describe('host facts schema', () => {
  it('reads a report of this version as it is', () => {
    expect(parseHostFacts(report)).toEqual(report);
  });

  it('reads a service of an agent that did not yet say whether its outputs are merged as unknown', () => {
    const older = structuredClone(report) as { apps: Record<string, { service: object }> };
    older.apps.cart!.service = { running: true, pid: 4242, uptimeSeconds: 60 };
    expect(parseHostFacts(older).apps.cart?.service?.mergedOutput).toBeNull();
    expect(parseHostFacts(older).apps.cart?.service?.stdoutBytes).toBeNull();
  });

  it("reads a version-1 report (an older agent's flat record), what it lacks set to null", () => {
    const facts = parseHostFacts({
      hostname: 'qa-1',
      os: 'Linux 6.1.0-18-amd64',
      platform: 'linux',
      arch: 'x64',
      cpus: 2,
      load: [0.1, 0.2, 0.3],
      memoryBytes: 4e9,
      freeMemoryBytes: 1e9,
      freeDiskBytes: 5e9,
      agentVersion: '0.0.9',
      runtimes: { node: '18.19.0', npm: '10.2.3', python3: null },
      apps: { cart: { current: 3, previous: 2, releases: [2, 3], health: null } },
      roles: ['web'],
      busy: null,
    });
    expect(facts).toMatchObject({
      factsVersion: 1,
      os: 'Linux',
      kernel: '6.1.0-18-amd64',
      memory: { totalBytes: 4e9, freeBytes: 1e9 },
      disks: [{ mount: '(agent root)', sizeBytes: null, freeBytes: 5e9 }],
      runtimes: { node: '18.19.0', npm: '10.2.3', python3: null, pip: null },
      apps: { cart: { current: 3, previous: 2, releases: [2, 3], service: null, config: null } },
    });
    // As the server stores it, and reads it again.
    expect(parseHostFacts(JSON.parse(JSON.stringify(facts)))).toEqual(facts);
  });

  it("reads a newer agent's report: fields it does not know are dropped, missing ones are null", () => {
    const facts = parseHostFacts({
      factsVersion: HOST_FACTS_VERSION + 1,
      hostname: 'qa-2',
      gpu: { model: 'something new' },
      apps: { cart: { current: 4, containers: 3 } },
    });
    expect(facts.factsVersion).toBe(HOST_FACTS_VERSION + 1);
    expect(facts).not.toHaveProperty('gpu');
    expect(facts.runtimes).toEqual({ node: null, npm: null, python3: null, pip: null });
    expect(facts.apps.cart).toEqual({
      releases: [],
      current: 4,
      previous: null,
      health: null,
      service: null,
      config: null,
    });
  });

  it('refuses a report with a field of the wrong type, naming each one', () => {
    expect(
      problemsOf({ ...report, cpus: 'many', apps: { cart: { current: '3' } } }).sort(),
    ).toEqual([
      'apps.cart.current: Invalid input: expected number, received string',
      'cpus: Invalid input: expected number, received string',
    ]);
    expect(problemsOf({ apps: 'nonsense' })).toEqual([
      'apps: Invalid input: expected record, received string',
    ]);
    expect(problemsOf('not facts')).toHaveLength(1);
    expect(problemsOf({ ...report, factsVersion: 0 })).toHaveLength(1);
  });
});

describe('fact changes', () => {
  it('names each fact that changed, a secret by name only', () => {
    const before = parseHostFacts(report);
    const after = parseHostFacts({
      ...report,
      runtimes: { ...report.runtimes, node: '22.3.0' },
      load: [1.5, 0.4, 0.3],
    });
    expect(factChanges(before, after)).toEqual([
      { field: 'load.1m', from: 0.5, to: 1.5 },
      { field: 'runtimes.node', from: '20.11.1', to: '22.3.0' },
    ]);
    expect(
      factChanges(null, before).find((c) => c.field === 'apps.cart.config.vars.TOKEN'),
    ).toEqual({ field: 'apps.cart.config.vars.TOKEN', from: null, to: '(secret)' });
  });

  it('tells facts that move on their own from changes of the host', () => {
    expect(isVolatileFact('load.1m')).toBe(true);
    expect(isVolatileFact('memory.freeBytes')).toBe(true);
    expect(isVolatileFact('disk[/].freeBytes')).toBe(true);
    expect(isVolatileFact('apps.cart.service.uptimeSeconds')).toBe(true);
    expect(isVolatileFact('disk[/].sizeBytes')).toBe(false);
    expect(isVolatileFact('runtimes.node')).toBe(false);
    expect(isVolatileFact('apps.cart.service.pid')).toBe(false);
  });
});
