import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from './helpers/ferry-process.js';
import { testService } from './helpers/services.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));

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
        '[ferry tests] PostgreSQL suites skipped: set FERRY_TEST_PG_URL to run them',
      );
    });

    it('runs when its URL is set', () => {
      process.env.CI = 'true';
      process.env.FERRY_TEST_PG_URL = 'postgres://example/test';
      expect(testService('FERRY_TEST_PG_URL', 'PostgreSQL')).toBe('postgres://example/test');
    });
  });
});
