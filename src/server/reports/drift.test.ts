import { describe, expect, it } from 'vitest';
import { host } from './findings/findings-fixture.js';
import { findDrift } from './drift.js';

const app = (current: number) => ({ cart: { current, releases: [current] } });

describe('findDrift', () => {
  it('finds a runtime, the OS, the kernel and the agent that differ, most common value first', () => {
    const hosts = [
      host('web-1', 'qa', {
        runtimes: { node: '20.11.1' },
        os: 'Debian 12',
        kernel: '6.1.0',
        agentVersion: '0.1.0',
      }),
      host('web-2', 'qa', {
        runtimes: { node: '18.19.0' },
        os: 'Debian 12',
        kernel: '6.1.0',
        agentVersion: '0.1.0',
      }),
      host('web-3', 'qa', {
        runtimes: { node: '20.11.1' },
        os: 'Debian 11',
        kernel: '5.10.0',
        agentVersion: '0.1.0',
      }),
      // Another environment is never compared with qa.
      host('web-9', 'prod', {
        runtimes: { node: '22.1.0' },
        os: 'Debian 12',
        agentVersion: '0.2.0',
      }),
    ];
    const drift = findDrift({ hosts, desired: [], runningConfig: [] });
    expect(drift.map((d) => `${d.env} ${d.aspect} ${d.name}`)).toEqual([
      'qa runtime node',
      'qa os os',
      'qa kernel kernel',
    ]);
    expect(drift[0]!.values).toEqual([
      { value: '20.11.1', hosts: ['web-1', 'web-3'] },
      { value: '18.19.0', hosts: ['web-2'] },
    ]);
    expect(findDrift({ hosts, desired: [], runningConfig: [], env: 'prod' })).toEqual([]);
  });

  it('fills a runtime the facts do not know from what a requires step found', () => {
    const hosts = [
      host('web-1', 'qa', { runtimes: { python3: '3.11.2' } }),
      host('web-2', 'qa', { runtimes: { python3: null } }),
    ];
    const drift = findDrift({
      hosts,
      desired: [],
      runningConfig: [],
      requires: [
        {
          hostId: 'host_web-2',
          check: {
            host: 'web-2',
            path: '/usr/bin',
            checks: [{ kind: 'runtime', name: 'python', needed: '3.x', found: '3.9.2', ok: true }],
          },
        },
      ],
    });
    expect(drift).toMatchObject([
      { aspect: 'runtime', name: 'python3', values: [{ value: '3.11.2' }, { value: '3.9.2' }] },
    ]);
  });

  it('finds hosts not on the desired release, counting the hosts of the role that lack the app', () => {
    const hosts = [
      host('web-1', 'qa', { apps: app(12) }),
      host('web-2', 'qa', { apps: app(12) }, { connected: false }),
      host('web-3', 'qa', { apps: app(11) }),
      host('web-4', 'qa', { apps: {} }),
      host('db-1', 'qa', { roles: ['db'], apps: {} }),
    ];
    const desired = [{ env: 'qa', app: 'cart', version: 12 }];
    const drift = findDrift({
      hosts,
      desired,
      runningConfig: [],
      appRoles: new Map([['cart', 'cart']]),
    });
    expect(drift).toEqual([
      {
        env: 'qa',
        aspect: 'release',
        name: 'cart',
        app: 'cart',
        role: null,
        expected: '12',
        values: [
          { value: '12', hosts: ['web-1', 'web-2'] },
          { value: '11', hosts: ['web-3'] },
          { value: null, hosts: ['web-4'] },
        ],
      },
    ]);
    // All on the desired release: nothing.
    expect(findDrift({ hosts: hosts.slice(0, 2), desired, runningConfig: [] })).toEqual([]);
  });

  it('compares variables by value, and secrets by hash without ever showing them', () => {
    const hosts = ['web-1', 'web-2', 'web-3'].map((n) => host(n, 'qa', { apps: app(12) }));
    const snapshot = (redis: string, key: string, extra: Record<string, string> = {}) => ({
      vars: { REDIS_HOST: redis, API_KEY: key, PORT: '8080', ...extra },
      secrets: ['API_KEY'],
    });
    const runningConfig = [
      { hostId: 'host_web-1', app: 'cart', snapshot: snapshot('redis-a', 'k-one') },
      { hostId: 'host_web-2', app: 'cart', snapshot: snapshot('redis-a', 'k-two', { DEBUG: '1' }) },
      { hostId: 'host_web-3', app: 'cart', snapshot: snapshot('redis-b', 'k-one') },
    ];
    const drift = findDrift({
      hosts,
      desired: [],
      runningConfig,
      appRoles: new Map([['cart', 'cart']]),
    });
    expect(drift.map((d) => [d.aspect, d.name, d.role])).toEqual([
      ['config', 'API_KEY', 'cart'],
      ['config', 'DEBUG', 'cart'],
      ['config', 'REDIS_HOST', 'cart'],
    ]);
    expect(drift[0]!.values).toEqual([
      { value: '(secret #1)', hosts: ['web-1', 'web-3'] },
      { value: '(secret #2)', hosts: ['web-2'] },
    ]);
    expect(drift[1]!.values).toEqual([
      { value: null, hosts: ['web-1', 'web-3'] },
      { value: '1', hosts: ['web-2'] },
    ]);
    expect(JSON.stringify(drift)).not.toMatch(/k-one|k-two/);
  });

  it('leaves out a variable set per host on purpose: at enrolment, or scoped to the host', () => {
    const hosts = ['web-1', 'web-2'].map((n, i) => ({
      ...host(n, 'qa', { apps: app(12) }),
      vars: { PORT: String(8080 + i) },
    }));
    const snapshot = (n: number) => ({
      vars: { PORT: String(8080 + n), SHARD: String(n), REDIS_HOST: `redis-${n}` },
      secrets: [],
    });
    const runningConfig = [0, 1].map((n) => ({
      hostId: `host_web-${n + 1}`,
      app: 'cart',
      snapshot: snapshot(n),
    }));
    const drift = (setPerHost: Array<{ host: string; name: string; app: string | null }>) =>
      findDrift({ hosts, desired: [], runningConfig, setPerHost }).map((d) => d.name);
    expect(drift([])).toEqual(['REDIS_HOST', 'SHARD']);
    expect(drift([{ host: 'web-2', name: 'SHARD', app: null }])).toEqual(['REDIS_HOST']);
    // Scoped to another app's variable on that host: still drift for cart.
    expect(drift([{ host: 'web-2', name: 'SHARD', app: 'front' }])).toEqual([
      'REDIS_HOST',
      'SHARD',
    ]);
  });

  it('compares the configuration of hosts on the desired release only: another release is release drift', () => {
    const on = (n: string, current: number) => host(n, 'qa', { apps: app(current) });
    const hosts = [on('web-1', 12), on('web-2', 12), on('web-3', 11)];
    const vars = (extra: Record<string, string>) => ({ vars: { A: '1', ...extra }, secrets: [] });
    const runningConfig = [
      { hostId: 'host_web-1', app: 'cart', snapshot: vars({ NEW_FLAG: 'on' }) },
      { hostId: 'host_web-2', app: 'cart', snapshot: vars({ NEW_FLAG: 'off' }) },
      { hostId: 'host_web-3', app: 'cart', snapshot: vars({}) },
    ];
    const desired = [{ env: 'qa', app: 'cart', version: 12 }];
    const drift = findDrift({ hosts, desired, runningConfig });
    expect(drift.map((d) => [d.aspect, d.name])).toEqual([
      ['release', 'cart'],
      ['config', 'NEW_FLAG'],
    ]);
    expect(drift[1]!.values.flatMap((v) => v.hosts)).toEqual(['web-1', 'web-2']);
  });

  it("with an app, compares only that app's hosts; hosts without facts are left out", () => {
    const hosts = [
      host('web-1', 'qa', { apps: app(12), runtimes: { node: '20.1.0' } }),
      host('web-2', 'qa', { apps: app(12), runtimes: { node: '20.1.0' } }),
      host('db-1', 'qa', { roles: ['db'], runtimes: { node: '18.0.0' } }),
      host('new-1', 'qa', null),
    ];
    expect(findDrift({ hosts, desired: [], runningConfig: [], app: 'cart' })).toEqual([]);
    // Nor without an app: db-1's node is no business of the web hosts'.
    expect(findDrift({ hosts, desired: [], runningConfig: [] })).toEqual([]);
  });

  it('compares runtimes among the hosts of one role, never across roles', () => {
    const hosts = [
      host('web-1', 'qa', { roles: ['web'], runtimes: { python3: '3.11.2' } }),
      host('web-2', 'qa', { roles: ['web'], runtimes: { python3: '3.9.2' } }),
      host('back-1', 'qa', { roles: ['back', 'worker'], runtimes: { python3: '3.12.1' } }),
      host('back-2', 'qa', { roles: ['back'], runtimes: { python3: '3.12.1' } }),
      host('worker-1', 'qa', { roles: ['worker'], runtimes: { python3: '3.10.0' } }),
    ];
    const drift = findDrift({ hosts, desired: [], runningConfig: [] });
    expect(drift.map((d) => [d.aspect, d.role, d.name, d.values.flatMap((v) => v.hosts)])).toEqual([
      ['runtime', 'web', 'python3', ['web-1', 'web-2']],
      ['runtime', 'worker', 'python3', ['back-1', 'worker-1']],
    ]);
    // Only the roles asked for.
    const web = findDrift({ hosts, desired: [], runningConfig: [], roles: new Set(['web']) });
    expect(web.map((d) => d.role)).toEqual(['web']);
  });
});
