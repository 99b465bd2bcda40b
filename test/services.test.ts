import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from './helpers/ferry-process.js';
import { answers, testService } from './helpers/services.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));

describe('finding a service at its default address', () => {
  it('tells a port that answers from one that does not', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    expect(await answers(`postgres://postgres@127.0.0.1:${port}/test`)).toBe(true);
    await new Promise((resolve) => server.close(resolve));
    expect(await answers(`postgres://postgres@127.0.0.1:${port}/test`)).toBe(false);
  });
});

describe('a suite whose service is not configured', () => {
  it.each([
    ['PostgreSQL', 'FERRY_TEST_PG_URL', 'test/store-contract.test.ts'],
    ['RabbitMQ', 'FERRY_TEST_AMQP_URL', 'test/transport-contract.test.ts'],
  ])('fails the run under CI=true (%s)', async (what, variable, file) => {
    // The file in its own vitest, as CI would run it with the URL missing.
    const run = await runCommand(process.execPath, [VITEST, 'run', file], {
      cwd: ROOT,
      env: { CI: 'true', [variable]: '' },
    });
    expect(run.code, run.stdout + run.stderr).not.toBe(0);
    expect(run.stdout + run.stderr).toContain(
      `${variable} is not set: under CI=true the ${what} suites must run, not be skipped`,
    );
  });

  describe('on a developer machine', () => {
    const saved = { CI: process.env.CI, url: process.env.FERRY_TEST_PG_URL };
    afterEach(() => {
      process.env.CI = saved.CI;
      process.env.FERRY_TEST_PG_URL = saved.url;
      if (saved.CI === undefined) delete process.env.CI;
      if (saved.url === undefined) delete process.env.FERRY_TEST_PG_URL;
    });

    it('is skipped, with a line saying so', () => {
      delete process.env.CI;
      process.env.FERRY_TEST_PG_URL = '';
      const written: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = (chunk: string) => {
        written.push(chunk);
        return true;
      };
      try {
        expect(testService('FERRY_TEST_PG_URL', 'PostgreSQL')).toBeUndefined();
      } finally {
        process.stderr.write = write;
      }
      expect(written.join('')).toContain(
        '[ferry tests] PostgreSQL suites skipped (FERRY_TEST_PG_URL is empty)',
      );
    });

    it('uses the default local address when the variable is not set and something answers there', () => {
      delete process.env.CI;
      delete process.env.FERRY_TEST_PG_URL;
      const local = 'postgres://postgres@127.0.0.1:5432/test';
      expect(testService('FERRY_TEST_PG_URL', 'PostgreSQL', local)).toBe(local);
      process.env.CI = 'true';
      expect(testService('FERRY_TEST_PG_URL', 'PostgreSQL', local)).toBe(local);
    });

    it('fails under CI=true when nothing answers at the default address', () => {
      delete process.env.FERRY_TEST_PG_URL;
      process.env.CI = 'true';
      expect(() => testService('FERRY_TEST_PG_URL', 'PostgreSQL', null)).toThrow(
        /FERRY_TEST_PG_URL is not set: under CI=true .*nothing answers at postgres:\/\/postgres@127\.0\.0\.1:5432\/test/,
      );
    });

    it('runs when its URL is set', () => {
      process.env.CI = 'true';
      process.env.FERRY_TEST_PG_URL = 'postgres://example/test';
      expect(testService('FERRY_TEST_PG_URL', 'PostgreSQL')).toBe('postgres://example/test');
    });
  });
});
