import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HostRecord, VariableSetBody } from '../protocol/api.js';
import { SqliteStore } from '../store/sqlite/sqlite-store.js';
import type { StoredToken } from '../store/store.js';
import { VariableService } from './variable-service.js';
import { failure } from '../../test/helpers/failure.js';

let dir: string;
let store: SqliteStore;
let variables: VariableService;

function token(role: StoredToken['role'], env: string | null = null): StoredToken {
  return {
    id: `tok_${role}`,
    name: `${role}-token`,
    role,
    env,
    tokenHash: 'x',
    createdAt: '',
    createdBy: null,
    lastUsedAt: null,
    revokedAt: null,
    hostId: null,
    expiresAt: null,
    replaces: null,
  };
}
const admin = token('admin');

async function host(
  name: string,
  env: string,
  roles: string[],
  vars: Record<string, string> = {},
): Promise<HostRecord> {
  return store.hosts.create({ id: `host_${name}`, name, env, roles, vars });
}

function set(body: Partial<VariableSetBody> & { name: string; value: string }, by = admin) {
  return variables.set(by, { secret: false, ...body });
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-vars-'));
  store = SqliteStore.open(path.join(dir, 'ferry.db'));
  await store.migrate();
  variables = new VariableService(store);
});
afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('resolveFor: the narrowest scope wins', () => {
  it('takes host over role over env over global', async () => {
    const web1 = await host('web-1', 'qa', ['web']);
    await host('web-2', 'qa', ['web']);
    for (const [value, scope] of [
      ['global', {}],
      ['env', { env: 'qa' }],
      ['role', { role: 'web' }],
      ['host', { host: 'web-1' }],
    ] as const) {
      await set({ name: 'A', value, ...scope });
    }
    await set({ name: 'B', value: 'global' });
    await set({ name: 'B', value: 'env', env: 'qa' });
    await set({ name: 'B', value: 'role', role: 'web' });
    await set({ name: 'C', value: 'global' });
    await set({ name: 'C', value: 'prod only', env: 'prod' });
    await set({ name: 'D', value: 'other role', role: 'db' });

    expect(await variables.resolveFor(web1)).toEqual({
      vars: { A: 'host', B: 'role', C: 'global' },
      secrets: [],
    });
    const web2 = (await store.hosts.findByName('web-2'))!;
    expect((await variables.resolveFor(web2)).vars).toEqual({ A: 'role', B: 'role', C: 'global' });
  });

  it("puts the host's enrolment --var below `vars set --host` and above role", async () => {
    const web1 = await host('web-1', 'qa', ['web'], { PORT: '8080', LEVEL: 'debug' });
    await set({ name: 'PORT', value: '9090', role: 'web' });
    await set({ name: 'LEVEL', value: 'info', role: 'web' });
    await set({ name: 'LEVEL', value: 'warn', host: 'web-1' });
    expect((await variables.resolveFor(web1)).vars).toEqual({ PORT: '8080', LEVEL: 'warn' });
  });

  it('refuses to guess between two roles that disagree, naming both', async () => {
    const both = await host('both-1', 'qa', ['web', 'worker']);
    await set({ name: 'QUEUE', value: 'a', role: 'web' });
    await set({ name: 'QUEUE', value: 'b', role: 'worker' });
    await set({ name: 'SAME', value: 'x', role: 'web' });
    await set({ name: 'SAME', value: 'x', role: 'worker', secret: true });

    const error = await failure(variables.resolveFor(both, ['QUEUE']));
    expect(error.code).toBe('E_VARIABLE_AMBIGUOUS');
    expect(error.message).toContain('QUEUE on both-1 (roles web and worker)');
    // Roles that agree are no conflict; one of them keeping it secret keeps it secret.
    expect(await variables.resolveFor(both, ['SAME'])).toEqual({
      vars: { SAME: 'x' },
      secrets: ['SAME'],
    });
    // A host-scoped value settles it.
    await set({ name: 'QUEUE', value: 'c', host: 'both-1' });
    expect((await variables.resolveFor(both)).vars).toEqual({ QUEUE: 'c', SAME: 'x' });
  });

  it('with names, resolves only those and names the missing ones', async () => {
    const web1 = await host('web-1', 'qa', ['web']);
    await set({ name: 'A', value: '1', env: 'qa' });
    await set({ name: 'B', value: '2', env: 'qa' });
    expect((await variables.resolveFor(web1, ['A'])).vars).toEqual({ A: '1' });
    const error = await failure(variables.resolveFor(web1, ['A', 'Z']));
    expect(error.code).toBe('E_VARIABLE_MISSING');
    expect(error.details).toMatchObject({ missing: [{ variable: 'Z', hosts: ['web-1'] }] });
  });
});

describe('checkDeployable', () => {
  const manifest = {
    role: 'web',
    install: ['npm ci'],
    service: {
      command: 'node server.js --db ${DB_URL}',
      env: { PORT: '${PORT}', DB_PASSWORD: '${DB_PASSWORD}' },
    },
    health: { http: 'http://127.0.0.1:${PORT}/health' },
    hooks: { beforeStart: ['./migrate --db ${DB_URL}'] },
  };

  it('names each missing variable and the hosts that miss it, before any host is touched', async () => {
    const hosts = [
      await host('web-1', 'qa', ['web'], { PORT: '1' }),
      await host('web-2', 'qa', ['web']),
    ];
    await set({ name: 'DB_URL', value: 'postgres://qa', env: 'qa' });
    const error = await failure(variables.checkDeployable(manifest, hosts));
    expect(error.code).toBe('E_VARIABLE_MISSING');
    expect(error.details).toEqual({
      variables: ['DB_PASSWORD', 'PORT'],
      missing: [
        { variable: 'DB_PASSWORD', hosts: ['web-1', 'web-2'] },
        { variable: 'PORT', hosts: ['web-2'] },
      ],
    });
    expect(error.message).toContain('${DB_PASSWORD} (on web-1, web-2), ${PORT} (on web-2)');
  });

  it("returns each host's variables with the names of the secret ones", async () => {
    const hosts = [
      await host('web-1', 'qa', ['web'], { PORT: '1' }),
      await host('web-2', 'qa', ['web'], { PORT: '2' }),
    ];
    await set({ name: 'DB_URL', value: 'postgres://qa', env: 'qa' });
    await set({ name: 'DB_PASSWORD', value: 'hunter2', env: 'qa', secret: true });
    await set({ name: 'EXTRA', value: 'for commands', role: 'web' });
    const resolved = await variables.checkDeployable(manifest, hosts);
    expect(resolved.get('host_web-2')).toEqual({
      vars: { DB_PASSWORD: 'hunter2', DB_URL: 'postgres://qa', EXTRA: 'for commands', PORT: '2' },
      secrets: ['DB_PASSWORD'],
    });
  });
  it('refuses a secret in a command line, naming the variable and where it is', async () => {
    const hosts = [
      await host('web-1', 'qa', ['web'], { PORT: '1' }),
      await host('db-1', 'qa', ['web', 'db'], { PORT: '2' }),
    ];
    // Secret for one host only (its role keeps it secret): still refused.
    await set({ name: 'DB_URL', value: 'postgres://qa', env: 'qa' });
    await set({ name: 'DB_URL', value: 'postgres://qa', role: 'db', secret: true });
    await set({ name: 'DB_PASSWORD', value: 'hunter2', env: 'qa', secret: true });
    const withSecrets = {
      ...manifest,
      install: ['npm ci', 'echo ${DB_PASSWORD} > .pw'],
      health: { command: 'check --password=${DB_PASSWORD}' },
    };
    const error = await failure(variables.checkDeployable(withSecrets, hosts));
    expect(error.code).toBe('E_SECRET_IN_COMMAND');
    expect(error.details).toEqual({
      variables: ['DB_PASSWORD', 'DB_URL'],
      secrets: [
        {
          variable: 'DB_PASSWORD',
          where: ['install[1]', 'health.command'],
          hosts: ['web-1', 'db-1'],
        },
        {
          variable: 'DB_URL',
          where: ['service.command', 'hooks.beforeStart[0]'],
          hosts: ['db-1'],
        },
      ],
    });
    expect(error.message).toContain('service.env');
    expect(error.message).not.toContain('hunter2');
    // In service.env (the manifest above) the same secret is fine.
    await variables.unset(admin, 'DB_URL', { role: 'db' });
    expect((await variables.checkDeployable(manifest, hosts)).size).toBe(2);
  });
});

describe('set, list, unset', () => {
  it('never shows a secret value, and keeps a secret secret when set again', async () => {
    const first = await set({ name: 'TOKEN', value: 'hunter2', env: 'qa', secret: true });
    expect(first).toMatchObject({
      created: true,
      variable: { name: 'TOKEN', scope: 'env', target: 'qa', value: null, secret: true },
    });
    const again = await set({ name: 'TOKEN', value: 'hunter3', env: 'qa' });
    expect(again).toMatchObject({ created: false, variable: { value: null, secret: true } });
    await set({ name: 'PLAIN', value: 'visible' });
    const listed = await variables.list();
    expect(JSON.stringify(listed)).not.toContain('hunter');
    expect(listed.map((v) => [v.name, v.scope, v.value])).toEqual([
      ['PLAIN', 'global', 'visible'],
      ['TOKEN', 'env', null],
    ]);
    expect((await variables.list({ env: 'qa' })).map((v) => v.name)).toEqual(['TOKEN']);
    expect(await variables.list({ env: 'dev' })).toEqual([]);
  });

  it('unsets from one scope only, and says when there is nothing to unset', async () => {
    await set({ name: 'A', value: '1', env: 'qa' });
    await set({ name: 'A', value: '2', env: 'dev' });
    await variables.unset(admin, 'A', { env: 'qa' });
    expect((await variables.list()).map((v) => v.target)).toEqual(['dev']);
    expect((await failure(variables.unset(admin, 'A', { env: 'qa' }))).code).toBe(
      'E_VARIABLE_NOT_FOUND',
    );
  });

  it('checks that the environment and host exist', async () => {
    expect((await failure(set({ name: 'A', value: '1', env: 'nope' }))).code).toBe(
      'E_ENV_NOT_FOUND',
    );
    expect((await failure(set({ name: 'A', value: '1', host: 'nope' }))).code).toBe(
      'E_HOST_NOT_FOUND',
    );
  });

  it('lets a deployer change variables outside prod only', async () => {
    await host('qa-1', 'qa', ['web']);
    await host('prod-1', 'prod', ['web']);
    const deployer = token('deployer');
    await set({ name: 'A', value: '1', env: 'qa' }, deployer);
    await set({ name: 'A', value: '1', host: 'qa-1' }, deployer);
    await variables.unset(deployer, 'A', { host: 'qa-1' });
    for (const scope of [{ env: 'prod' }, { host: 'prod-1' }, { role: 'web' }, {}]) {
      const refused = await failure(set({ name: 'A', value: '1', ...scope }, deployer));
      expect(refused.code, JSON.stringify(scope)).toBe('E_FORBIDDEN');
      expect(refused.details).toEqual({ needs: ['admin'], has: 'deployer' });
    }
    await set({ name: 'A', value: '1', env: 'prod' });
    expect((await failure(variables.unset(deployer, 'A', { env: 'prod' }))).code).toBe(
      'E_FORBIDDEN',
    );
    // A deployer token bound to an environment stays there.
    const devDeployer = token('deployer', 'dev');
    expect((await failure(set({ name: 'A', value: '1', env: 'qa' }, devDeployer))).code).toBe(
      'E_FORBIDDEN',
    );
    expect((await failure(set({ name: 'A', value: '1' }, token('qa')))).details).toEqual({
      needs: ['admin', 'deployer'],
      has: 'qa',
    });
  });
});

describe('variables per app', () => {
  it('gives two apps of one host each their own value, the app first within a scope', async () => {
    const web1 = await host('web-1', 'qa', ['web']);
    await set({ name: 'PORT', value: '8080', env: 'qa' });
    await set({ name: 'PORT', value: '8081', env: 'qa', app: 'cart' });
    await set({ name: 'PORT', value: '8082', env: 'qa', app: 'catalogue' });
    expect((await variables.resolveFor(web1, ['PORT'], 'cart')).vars).toEqual({ PORT: '8081' });
    expect((await variables.resolveFor(web1, ['PORT'], 'catalogue')).vars).toEqual({
      PORT: '8082',
    });
    // Another app, or none, gets the value for every app.
    expect((await variables.resolveFor(web1, ['PORT'], 'front')).vars).toEqual({ PORT: '8080' });
    expect((await variables.resolveFor(web1, ['PORT'])).vars).toEqual({ PORT: '8080' });
  });

  it('takes the narrowest scope, and within a scope the value for the app: host > role > env > global', async () => {
    const web1 = await host('web-1', 'qa', ['web']);
    const levels: [string, Partial<VariableSetBody>][] = [
      ['global', {}],
      ['env', { env: 'qa' }],
      ['role', { role: 'web' }],
      ['host', { host: 'web-1' }],
    ];
    for (const [level, scope] of levels) {
      // Each level is narrower than the one before: what it sets wins, the app's value for the app.
      await set({ name: 'LEVEL', value: `every-${level}`, ...scope });
      await set({ name: 'LEVEL', value: `cart-${level}`, ...scope, app: 'cart' });
      expect((await variables.resolveFor(web1, ['LEVEL'], 'cart')).vars.LEVEL).toBe(
        `cart-${level}`,
      );
      expect((await variables.resolveFor(web1, ['LEVEL'], 'front')).vars.LEVEL).toBe(
        `every-${level}`,
      );
    }
  });

  it('refuses a value for the app in a wider scope beside a different one for every app in a narrower scope, naming both', async () => {
    const web1 = await host('web-1', 'qa', ['web'], { PORT: '9000' });
    await set({ name: 'PORT', value: '8081', env: 'qa', app: 'cart' });
    const error = await failure(variables.resolveFor(web1, ['PORT'], 'cart'));
    expect(error.code).toBe('E_VARIABLE_AMBIGUOUS');
    expect(error.details).toMatchObject({
      ambiguous: [
        {
          host: 'web-1',
          ambiguous: [
            {
              variable: 'PORT',
              scopes: ['env qa for app cart', 'the enrolment --var of host web-1'],
            },
          ],
        },
      ],
    });
    // Settled by a value for the app on the host; the same value is no ambiguity either.
    await set({ name: 'PORT', value: '8081', host: 'web-1', app: 'cart' });
    expect((await variables.resolveFor(web1, ['PORT'], 'cart')).vars).toEqual({ PORT: '8081' });
    await set({ name: 'REDIS_HOST', value: 'r1', app: 'cart' });
    await set({ name: 'REDIS_HOST', value: 'r1', env: 'qa' });
    expect((await variables.resolveFor(web1, ['REDIS_HOST'], 'cart')).vars).toEqual({
      REDIS_HOST: 'r1',
    });
  });

  it('keeps a value per app apart when set, listed and unset', async () => {
    await set({ name: 'PORT', value: '8080', env: 'qa' });
    await set({ name: 'PORT', value: '8081', env: 'qa', app: 'cart' });
    expect((await variables.list({ env: 'qa' })).map((v) => [v.app, v.value])).toEqual([
      [null, '8080'],
      ['cart', '8081'],
    ]);
    expect((await variables.list({ app: 'cart' })).map((v) => v.value)).toEqual(['8080', '8081']);
    await variables.unset(admin, 'PORT', { env: 'qa', app: 'cart' });
    expect((await variables.list()).map((v) => [v.app, v.value])).toEqual([[null, '8080']]);
    expect((await failure(variables.unset(admin, 'PORT', { env: 'qa', app: 'cart' }))).code).toBe(
      'E_VARIABLE_NOT_FOUND',
    );
  });
});

describe('resolverForAll: every host and app from one read', () => {
  it('resolves each host and app as resolveFor does, its errors too', async () => {
    const hosts = [
      await host('web-1', 'qa', ['web'], { PORT: '9000' }),
      await host('web-2', 'qa', ['web', 'worker']),
      await host('both-1', 'prod', ['web', 'worker']),
      await host('db-1', 'prod', ['db']),
    ];
    await set({ name: 'PORT', value: '8080' });
    await set({ name: 'PORT', value: '8081', env: 'qa', app: 'cart' });
    await set({ name: 'PORT', value: '7000', role: 'db', app: 'cart' });
    await set({ name: 'REDIS_HOST', value: 'redis.qa', env: 'qa' });
    await set({ name: 'REDIS_HOST', value: 'redis.prod', env: 'prod' });
    await set({ name: 'REDIS_HOST', value: 'redis-2.prod', host: 'db-1' });
    await set({ name: 'QUEUE', value: 'a', role: 'web' });
    await set({ name: 'QUEUE', value: 'b', role: 'worker' });
    await set({ name: 'QUEUE', value: 'c', role: 'worker', app: 'mailer' });
    await set({ name: 'API_KEY', value: 'k3y', env: 'prod', secret: true });
    await set({ name: 'LOG', value: 'debug', host: 'web-2', app: 'mailer' });

    const resolveFor = await variables.resolverForAll();
    let ambiguous = 0;
    for (const h of hosts) {
      for (const app of [undefined, 'cart', 'mailer', 'web']) {
        const one = await variables.resolveFor(h, undefined, app).catch((err: unknown) => err);
        let all: unknown;
        try {
          all = resolveFor(h, app);
        } catch (err) {
          all = err;
        }
        expect(all, `${h.name} ${app ?? '(every app)'}`).toEqual(one);
        if (all instanceof Error) {
          expect(all).toMatchObject({
            code: 'E_VARIABLE_AMBIGUOUS',
            message: (one as Error).message,
          });
          ambiguous++;
        }
      }
    }
    // Two roles that disagree on QUEUE: web-2 and both-1, for every app but mailer
    // (the worker role's value for it settles it); and web-1's enrolment PORT
    // beside qa's PORT for cart.
    expect(ambiguous).toBe(7);
    expect(resolveFor(hosts[3]!, 'cart')).toEqual({
      vars: { API_KEY: 'k3y', PORT: '7000', REDIS_HOST: 'redis-2.prod' },
      secrets: ['API_KEY'],
    });
  });
});
