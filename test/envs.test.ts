import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runFerry, startServer } from './helpers/ferry-process.js';

describe('environments', () => {
  it('are dev, qa and prod by default: qa deploys on push, prod needs a passed verdict', async () => {
    const server = await startServer();
    try {
      const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken };
      const listed = await runFerry(['envs', '--json'], { env });
      expect(listed.code).toBe(0);
      const envs = JSON.parse(listed.stdout) as {
        name: string;
        autoDeploy: boolean;
        requires: string | null;
      }[];
      expect(envs.map((e) => e.name)).toEqual(['dev', 'qa', 'prod']);
      expect(envs.find((e) => e.name === 'qa')).toMatchObject({ autoDeploy: true, requires: null });
      expect(envs.find((e) => e.name === 'prod')).toMatchObject({
        autoDeploy: false,
        requires: 'passed',
      });
      const table = await runFerry(['envs'], { env });
      expect(table.stdout).toMatch(/^ENV\s+AUTO-DEPLOY\s+REQUIRES/);
      expect(table.stdout).toMatch(/^prod\s+no\s+passed\s+no\s+1\s+0\s+yes\s+0\/0 connected$/m);
    } finally {
      await server.stop();
    }
  });

  it('follow the configuration, in its order, and hosts can enrol in them', async () => {
    const config = path.join(os.tmpdir(), `ferry-envs-${process.pid}.yml`);
    await writeFile(
      config,
      [
        'environments:',
        '  - { name: dev }',
        '  - { name: staging, autoDeploy: true }',
        '  - { name: prod, requires: passed, strategy: { batch: "50%", maxFailures: 1 } }',
      ].join('\n'),
    );
    const server = await startServer(['--config', config]);
    try {
      const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken };
      const envs = JSON.parse((await runFerry(['envs', '--json'], { env })).stdout) as {
        name: string;
        strategy: { batch: number | string; maxFailures: number; rollbackOnFailure: boolean };
      }[];
      expect(envs.map((e) => e.name)).toEqual(['dev', 'staging', 'prod']);
      expect(envs[2]!.strategy).toEqual({
        batch: '50%',
        maxFailures: 1,
        offlineTimeout: '60s',
        rollbackOnFailure: true,
        // No bake unless the configuration asks for one.
        bake: '0s',
        batchBake: '0s',
        onDegrade: 'rollback',
      });
      expect(
        (await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'staging'], { env })).code,
      ).toBe(0);
      const gone = await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'qa'], { env });
      expect(gone.stderr).toContain('[E_ENV_NOT_FOUND]');
      expect(gone.stderr).toContain('dev, staging, prod');
    } finally {
      await server.stop();
    }
  });

  it('refuses a configuration with problems, naming each', async () => {
    const config = path.join(os.tmpdir(), `ferry-envs-bad-${process.pid}.yml`);
    await writeFile(
      config,
      'environments:\n  - { name: qa }\n  - { name: qa }\n  - { name: prod, strategy: { batch: "half" } }\n',
    );
    const result = await runFerry([
      'server',
      '--data',
      path.join(os.tmpdir(), `ferry-bad-${process.pid}`),
      '--config',
      config,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[E_CONFIG_INVALID]');
    expect(result.stderr).toContain('environments.1.name: qa is listed twice');
    expect(result.stderr).toContain('environments.2.strategy.batch');
  });
});
