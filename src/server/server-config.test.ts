import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { FerryError } from '../protocol/errors.js';
import { DEFAULT_PORT, loadServerConfig } from './server-config.js';

describe('loadServerConfig', () => {
  it('puts FERRY_AMQP_CA with the broker URL, made absolute, and takes host credential settings', async () => {
    const config = await loadServerConfig({
      env: { FERRY_TRANSPORT_URL: 'amqps://ferry:pw@rabbit:5671', FERRY_AMQP_CA: 'rabbit-ca.pem' },
      flags: { data: '/data' },
    });
    expect(config.transport).toMatchObject({
      kind: 'rabbitmq',
      url: 'amqps://ferry:pw@rabbit:5671',
      ca: path.resolve('rabbit-ca.pem'),
    });
    expect(config.hosts).toEqual({
      credentialDays: 30,
      rotateWhenLeft: 1 / 3,
      rotationGraceSeconds: 3600,
      connectionCheckSeconds: 15,
    });
    await expect(
      loadServerConfig({
        env: {},
        flags: { data: '/data', hosts: { rotateWhenLeft: 1 } },
      }),
    ).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
  });

  it('bounds the webhook timings: no 0s busy loop, no timer beyond what Node keeps', async () => {
    const plain = await loadServerConfig({ env: {}, flags: { data: '/data' } });
    expect(plain.webhooks).toMatchObject({ poll: '1s', retryFirst: '10s', timeout: '10s' });
    for (const [webhooks, message] of [
      [{ poll: '0s' }, 'webhooks.poll: expected a duration between 100ms and 24h'],
      [{ poll: '600h' }, 'webhooks.poll: expected a duration between 100ms and 24h'],
      [{ retryFirst: '0ms' }, 'webhooks.retryFirst: expected a duration between 100ms and 24h'],
      [{ retryFirst: '595h' }, 'webhooks.retryFirst: expected a duration between 100ms and 24h'],
      [{ timeout: '0s' }, 'webhooks.timeout: expected a duration between 100ms and 1h'],
      [
        { retryFirst: '1m', retryMax: '30s' },
        'webhooks.retryMax: webhooks.retryMax must be at least webhooks.retryFirst',
      ],
    ] as const) {
      const refused = await loadServerConfig({ env: {}, flags: { data: '/data', webhooks } }).catch(
        (err: FerryError) => err,
      );
      expect(refused, JSON.stringify(webhooks)).toMatchObject({ code: 'E_CONFIG_INVALID' });
      expect((refused as FerryError).message).toContain(message);
    }
    const short = await loadServerConfig({
      env: {},
      flags: { data: '/data', webhooks: { poll: '100ms', retryFirst: '200ms', retryMax: '1s' } },
    });
    expect(short.webhooks).toMatchObject({ poll: '100ms', retryFirst: '200ms', retryMax: '1s' });
  });

  it('keeps /metrics off by default, and refuses it enabled with no token unless public is said', async () => {
    const plain = await loadServerConfig({ env: {}, flags: { data: '/data' } });
    expect(plain.metrics).toEqual({ enabled: false, public: false });
    const file = path.join(os.tmpdir(), `ferry-metrics-${process.pid}.yml`);
    await writeFile(file, 'data: /data\nmetrics: { enabled: true }\n');
    const refused = await loadServerConfig({ file, env: {} }).catch((err: FerryError) => err);
    expect(refused).toMatchObject({ code: 'E_CONFIG_INVALID' });
    expect((refused as FerryError).message).toContain(
      'metrics.token: metrics.enabled needs a token (metrics.token or FERRY_METRICS_TOKEN), or metrics.public: true',
    );
    // The token from the environment, not the file; a short one is refused without being repeated.
    const token = 'scrape-secret-0123456789';
    const withToken = await loadServerConfig({ file, env: { FERRY_METRICS_TOKEN: token } });
    expect(withToken.metrics).toEqual({ enabled: true, public: false, token });
    const short = await loadServerConfig({ file, env: { FERRY_METRICS_TOKEN: 'short-tok' } }).catch(
      (err: FerryError) => err,
    );
    expect(short).toMatchObject({ code: 'E_CONFIG_INVALID' });
    expect(JSON.stringify(short)).not.toContain('short-tok');
    expect((short as FerryError).message).not.toContain('short-tok');
    await writeFile(file, 'data: /data\nmetrics: { enabled: true, public: true }\n');
    expect((await loadServerConfig({ file, env: {} })).metrics).toEqual({
      enabled: true,
      public: true,
    });
    await rm(file, { force: true });
  });

  it('fills defaults and makes the data folder absolute', async () => {
    const config = await loadServerConfig({ env: {}, flags: { data: 'relative/data' } });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: DEFAULT_PORT,
      store: { driver: 'sqlite' },
    });
    expect(path.isAbsolute(config.data)).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('layers the file, then FERRY_* variables, then flags', async () => {
    const file = path.join(os.tmpdir(), `ferry-config-${process.pid}.yml`);
    await writeFile(
      file,
      'data: /from/file\nport: 1111\nhost: 0.0.0.0\nlimits: { maxFiles: 10 }\n',
    );
    const config = await loadServerConfig({
      file,
      env: { FERRY_PORT: '2222', FERRY_DATA: '/from/env' },
      flags: { data: '/from/flags', port: undefined },
    });
    expect(config).toMatchObject({
      data: '/from/flags',
      port: 2222,
      host: '0.0.0.0',
      limits: { maxFiles: 10 },
    });
  });

  it('reports every problem at once, unknown keys included', async () => {
    const file = path.join(os.tmpdir(), `ferry-config-bad-${process.pid}.yml`);
    await writeFile(file, 'port: 99999\nstore: { driver: mysql }\ncolour: blue\n');
    const error = (await loadServerConfig({ file, env: {} }).catch(
      (e: unknown) => e,
    )) as FerryError;
    expect(error.code).toBe('E_CONFIG_INVALID');
    const problems = (error.details?.problems as string[]).join('\n');
    expect(problems).toMatch(/^data:/m);
    expect(problems).toMatch(/^port:/m);
    expect(problems).toMatch(/^store\.driver:/m);
    expect(problems).toContain('colour');
  });

  it('refuses TLS timings that would renew at every check or fire the check at once', async () => {
    const file = path.join(os.tmpdir(), `ferry-config-tls-${process.pid}.yml`);
    await writeFile(file, 'tls: { serverCertDays: 20, checkSeconds: 2592000 }\n');
    const error = (await loadServerConfig({ file, env: {}, flags: { data: '/tmp/x' } }).catch(
      (e: unknown) => e,
    )) as FerryError;
    expect(error.code).toBe('E_CONFIG_INVALID');
    const problems = (error.details?.problems as string[]).join('\n');
    expect(problems).toMatch(/^tls\.renewBeforeDays: .*less than tls\.serverCertDays/m);
    expect(problems).toMatch(/^tls\.checkSeconds:/m);
  });

  it("takes the names of the server's own certificate from tls.names, FERRY_TLS_NAMES and --tls-name, the later winning", async () => {
    const file = path.join(os.tmpdir(), `ferry-config-tls-names-${process.pid}.yml`);
    await writeFile(file, 'data: /d\ntls: { names: [from-file] }\n');
    expect((await loadServerConfig({ file, env: {} })).tls.names).toEqual(['from-file']);
    const env = { FERRY_TLS_NAMES: 'ferry.example, 10.0.0.5,', FERRY_TLS_CERT: '/c.pem' };
    const fromEnv = await loadServerConfig({ file, env: { ...env, FERRY_TLS_KEY: '/k.pem' } });
    expect(fromEnv.tls.names).toEqual(['ferry.example', '10.0.0.5']);
    expect(fromEnv.tls.certFile).toBe('/c.pem');
    const fromFlags = await loadServerConfig({
      file,
      env,
      flags: { tlsNames: ['a.example', 'b.example'], tlsKey: '/k.pem' },
    });
    expect(fromFlags.tls.names).toEqual(['a.example', 'b.example']);
    expect(fromFlags.tls).toMatchObject({ certFile: '/c.pem', keyFile: '/k.pem' });
  });

  it('keeps 1000 facts samples per host for 30 days, sampling load every 30 minutes, unless configured', async () => {
    const defaults = await loadServerConfig({ env: {}, flags: { data: '/d' } });
    expect(defaults.factsHistory).toEqual({ keepSamples: 1000, keepDays: 30, sampleMinutes: 30 });
    const file = path.join(os.tmpdir(), `ferry-config-facts-${process.pid}.yml`);
    await writeFile(
      file,
      'data: /d\nfactsHistory: { keepSamples: 50, keepDays: 0, retention: 3 }\n',
    );
    const error = (await loadServerConfig({ file, env: {} }).catch(
      (e: unknown) => e,
    )) as FerryError;
    const problems = (error.details?.problems as string[]).join('\n');
    expect(problems).toMatch(/^factsHistory\.keepDays:/m);
    expect(problems).toMatch(/^factsHistory: .*retention/m);
  });

  it('checks developer keys and the names environments require, naming each problem', async () => {
    const good = 'U/ktwITHE2bcijh2b4kmudctVsrVzHr8xohqE7y436s=';
    const config = await loadServerConfig({
      env: { FERRY_SIGNING_KEY: 'pem text' },
      flags: {
        data: '/d',
        developerKeys: { alice: good },
        environments: [{ name: 'prod', requireSignedBy: ['alice'] }],
      },
    });
    expect(config.signingKey).toBe('pem text');
    expect(config.environments[0]!.requireSignedBy).toEqual(['alice']);
    const error = await loadServerConfig({
      env: {},
      flags: {
        data: '/d',
        developerKeys: { alice: good, bob: 'not a key' },
        environments: [{ name: 'qa' }, { name: 'prod', requireSignedBy: ['alice', 'carol'] }],
      },
    }).then(
      () => undefined,
      (err: unknown) => err as FerryError,
    );
    expect(error?.code).toBe('E_CONFIG_INVALID');
    expect(error?.details?.problems).toEqual([
      'developerKeys.bob: The key in developerKeys.bob is not an ed25519 public key (a PEM, or its 32 bytes in base64)',
      'environments.1.requireSignedBy: carol is not a key in developerKeys',
    ]);
  });
});
