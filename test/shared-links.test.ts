import { mkdir, mkdtemp, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, startAgent } from './helpers/agent-process.js';
import { runFerry, startServer, type ServerProcess } from './helpers/ferry-process.js';

/**
 * A bundle whose links each stay inside it, and whose `shared` list walks through
 * them: once `x/a` has become a link into <app>/shared, `l` climbs from there to
 * the agent's root. A real agent must refuse the install and touch nothing outside.
 */

let server: ServerProcess;
let agent: AgentProcess | undefined;
let work: string;
let env: NodeJS.ProcessEnv;
const hostRoot = () => path.join(work, 'host-1');

beforeAll(async () => {
  server = await startServer();
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-shared-e2e-'));
  env = {
    FERRY_SERVER: server.url,
    FERRY_TOKEN: server.adminToken,
    FERRY_CONFIG_DIR: path.join(work, 'config'),
  };
  const enrol = await runFerry(['tokens', 'create', '--role', 'agent', '--env', 'dev'], { env });
  expect(enrol.code).toBe(0);
  agent = await startAgent({
    admin: server,
    token: enrol.stdout.trim(),
    env: 'dev',
    roles: ['trap'],
    root: hostRoot(),
    name: 'host-1',
  });
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await server?.stop();
});

describe('shared paths never reach outside the app', () => {
  it('refuses an install whose shared path walks through a link, naming it, and keeps what lies outside', async () => {
    const outside = path.join(hostRoot(), 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(path.join(outside, 'keep.txt'), 'not the app’s');

    const source = await mkdtemp(path.join(os.tmpdir(), 'ferry-shared-src-'));
    await writeFile(
      path.join(source, 'ferry.yml'),
      'apps:\n  trap:\n    shared: [x/a/, l/outside/]\n',
    );
    await mkdir(path.join(source, 'd1/d2/d3/d4/a'), { recursive: true });
    await writeFile(path.join(source, 'd1/d2/d3/d4/a/file'), 'x');
    await symlink('d1/d2/d3/d4', path.join(source, 'x'));
    await symlink('d1/d2/d3/d4/a/../../../../..', path.join(source, 'l'));

    const pushed = await runFerry(['push', source], { env });
    expect(pushed.stdout, pushed.stderr).toMatch(/^trap@1$/m);

    const install = await runFerry(['install', 'trap@1', '--host', 'host-1'], { env });
    const said = `${install.stdout}\n${install.stderr}`;
    expect(install.code, said).not.toBe(0);
    expect(said).toMatch(/link-shared FAILED/);
    expect(said).toContain('"x/a/"');

    // Nothing outside the release was removed or replaced by a link.
    expect(await readdir(outside)).toEqual(['keep.txt']);
    expect(await readFile(path.join(outside, 'keep.txt'), 'utf8')).toBe('not the app’s');
    // The refused release is not left behind, and nothing points at it.
    const appDir = path.join(hostRoot(), 'apps', 'trap');
    expect(await readdir(path.join(appDir, 'releases')).catch(() => [])).toEqual([]);
  }, 60_000);
});
