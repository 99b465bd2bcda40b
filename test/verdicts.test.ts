import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, startServer, type ServerProcess } from './helpers/ferry-process.js';
import { appTree, makeTree } from './helpers/source-tree.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

let server: ServerProcess;
let env: NodeJS.ProcessEnv;
let qaEnv: NodeJS.ProcessEnv;
let deployerEnv: NodeJS.ProcessEnv;

async function newToken(role: string, name: string): Promise<string> {
  const made = await runFerry(['tokens', 'create', '--role', role, '--name', name], { env });
  expect(made.code, made.stderr).toBe(0);
  return made.stdout.trim();
}

interface VerdictRow {
  verdict: string;
  note: string | null;
  by: string;
  at: string;
}

beforeAll(async () => {
  server = await startServer();
  const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-verdicts-'));
  // An empty config folder, so no saved login on this machine leaks into the tests.
  env = {
    FERRY_SERVER: server.url,
    FERRY_TOKEN: server.adminToken,
    FERRY_CONFIG_DIR: path.join(work, 'config'),
  };
  qaEnv = { ...env, FERRY_TOKEN: await newToken('qa', 'alice') };
  deployerEnv = { ...env, FERRY_TOKEN: await newToken('deployer', 'dev-bot') };
  const pushed = await runFerry(['push', await makeTree(appTree('cart', 'v1'))], {
    env: deployerEnv,
  });
  expect(pushed.code, pushed.stderr).toBe(0);
  expect(pushed.stdout).toMatch(/^cart@1$/m);
});
afterAll(async () => {
  await server?.stop();
});

describe('ferry mark and ferry verdicts', () => {
  it('starts pending, records a pass with who and the note, and shows it', async () => {
    const before = await runFerry(['bundle', 'show', 'cart@1'], { env });
    expect(before.stdout).toMatch(/^verdict:\s+pending$/m);
    const none = await runFerry(['verdicts', 'cart@1'], { env });
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('(no verdict yet: cart@1 is pending)');

    const marked = await runFerry(['mark', 'cart@1', 'passed', '--note', 'checkout OK'], {
      env: qaEnv,
    });
    expect(marked.code, marked.stderr).toBe(0);
    expect(marked.stdout).toBe('cart@1: passed (was pending), by alice\n');

    const shown = await runFerry(['bundle', 'show', 'cart@1'], { env });
    expect(shown.stdout).toMatch(/^verdict:\s+passed$/m);
    const json = await runFerry(['bundle', 'show', 'cart@1', '--json'], { env });
    expect(JSON.parse(json.stdout)).toMatchObject({ app: 'cart', version: 1, verdict: 'passed' });
  });

  it('keeps a later fail in the history, newest first, and answers in JSON', async () => {
    const failed = await runFerry(
      ['mark', 'cart@1', 'failed', '--note', 'totals wrong with coupons', '--json'],
      { env: qaEnv },
    );
    expect(failed.code, failed.stderr).toBe(0);
    const result = JSON.parse(failed.stdout) as Record<string, unknown>;
    expect(result).toMatchObject({
      bundle: 'cart@1',
      verdict: 'failed',
      previous: 'passed',
      by: 'alice',
      note: 'totals wrong with coupons',
      liveOn: [],
    });
    expect(Date.parse(String(result.at))).not.toBeNaN();

    // The admin may mark too; the same verdict again is still a change in the history.
    const again = await runFerry(['mark', 'cart@1', 'failed'], { env });
    // The push deployed cart@1 to qa (autoDeploy, no hosts yet): it is qa's release.
    expect(again.stdout).toBe(
      'cart@1: failed (was failed), by admin\n' +
        'it is the desired release in qa: roll back with `ferry mark cart@1 failed --rollback` or `ferry rollback cart --env qa`\n',
    );

    const history = await runFerry(['verdicts', 'cart@1', '--json'], { env });
    expect(history.code, history.stderr).toBe(0);
    const rows = JSON.parse(history.stdout) as VerdictRow[];
    expect(rows.map((r) => [r.verdict, r.by, r.note])).toEqual([
      ['failed', 'admin', null],
      ['failed', 'alice', 'totals wrong with coupons'],
      ['passed', 'alice', 'checkout OK'],
    ]);
    const times = rows.map((r) => Date.parse(r.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));

    const table = await runFerry(['verdicts', 'cart@1'], { env });
    expect(table.stdout).toMatch(/^AT\s+VERDICT\s+BY\s+NOTE$/m);
    expect(table.stdout).toMatch(/^\S+ \S+\s+passed\s+alice\s+checkout OK$/m);
    expect(table.stdout.indexOf('admin')).toBeLessThan(table.stdout.indexOf('checkout OK'));

    const shown = await runFerry(['bundle', 'show', 'cart@1'], { env });
    expect(shown.stdout).toMatch(/^verdict:\s+failed$/m);
  });

  it('refuses a deployer token with 403 naming the qa and admin roles', async () => {
    const refused = await runFerry(['mark', 'cart@1', 'passed'], { env: deployerEnv });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_FORBIDDEN]');
    expect(refused.stderr).toContain('qa or admin');

    const response = await harnessFetch(`${server.url}/api/v1/apps/cart/bundles/1/verdict`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${String(deployerEnv.FERRY_TOKEN)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ verdict: 'passed' }),
    });
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({
      code: 'E_FORBIDDEN',
      details: { needs: ['qa', 'admin'], has: 'deployer' },
    });
  });

  it('refuses a bundle that does not exist', async () => {
    const missing = await runFerry(['mark', 'cart@99', 'passed'], { env: qaEnv });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('[E_BUNDLE_NOT_FOUND]');
    expect(missing.stderr).toContain('cart@99 does not exist');
    const history = await runFerry(['verdicts', 'cart@99'], { env });
    expect(history.stderr).toContain('[E_BUNDLE_NOT_FOUND]');
  });

  it('refuses a verdict word other than passed or failed, in the CLI and the API', async () => {
    const bad = await runFerry(['mark', 'cart@1', 'good'], { env: qaEnv });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Invalid verdict "good": expected passed or failed');
    expect(bad.stderr).toContain('[E_BAD_REQUEST]');

    const response = await harnessFetch(`${server.url}/api/v1/apps/cart/bundles/1/verdict`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${server.adminToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ verdict: 'pending' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'E_BAD_REQUEST' });

    const history = await runFerry(['verdicts', 'cart@1', '--json'], { env });
    expect(JSON.parse(history.stdout)).toHaveLength(3);
  });
});
