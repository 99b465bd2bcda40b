import { createHash } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry, startServer, type ServerProcess } from './helpers/ferry-process.js';
import { appTree, makeTree } from './helpers/source-tree.js';

let server: ServerProcess;
let env: NodeJS.ProcessEnv;
let work: string;

beforeAll(async () => {
  server = await startServer();
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-cli-'));
  // An empty config folder, so no saved login on this machine leaks into the tests.
  env = {
    FERRY_SERVER: server.url,
    FERRY_TOKEN: server.adminToken,
    FERRY_CONFIG_DIR: path.join(work, 'config'),
  };
});
afterAll(async () => {
  await server?.stop();
});

describe('ferry push and the listings', () => {
  it('bundles a folder, pushes it, and prints app@version and the sha256', async () => {
    const tree = await makeTree(appTree('cart', 'one'));
    const pushed = await runFerry(['push', tree, '--label', '0.1.0'], { env });
    expect(pushed.stderr).toContain('Bundled cart');
    expect(pushed.code).toBe(0);
    // qa deploys every new bundle by itself (autoDeploy), and the push says so.
    expect(pushed.stdout).toMatch(
      /^cart@1\nsha256 [0-9a-f]{64}\nauto-deploy to qa: dep_[0-9a-f]{16} \(\w+\); follow it: ferry deployment dep_[0-9a-f]{16} --follow\n$/,
    );

    const again = await runFerry(['push', tree, '--label', '0.1.0'], { env });
    expect(again.stdout).toContain('cart@1 (already pushed: same sha256)');

    const apps = await runFerry(['apps', '--json'], { env });
    expect(JSON.parse(apps.stdout)).toContainEqual(
      expect.objectContaining({ name: 'cart', latestVersion: 1 }),
    );

    const table = await runFerry(['bundles', 'cart'], { env });
    expect(table.stdout).toMatch(/^VERSION\s+LABEL\s+COMMIT/);
    expect(table.stdout).toMatch(/^1\s+0\.1\.0\s/m);

    const shown = await runFerry(['bundle', 'show', 'cart@1'], { env });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^label:\s+0\.1\.0$/m);
    expect(shown.stdout).toMatch(/^pushed:\s+\S+ by admin$/m);
  });

  it('makes a bundle file, pushes the file, and downloads the same bytes back', async () => {
    const tree = await makeTree(appTree('front', 'file'));
    const out = path.join(work, 'front.tar.gz');
    const made = await runFerry(['bundle', tree, '--out', out, '--json']);
    expect(made.code).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject({ file: out, app: 'front', files: 3 });

    const pushed = await runFerry(['push', out, '--json'], { env });
    const result = JSON.parse(pushed.stdout) as { bundle: { version: number; sha256: string } };
    expect(result.bundle.version).toBe(1);
    // Taken by the checker thread from the bytes it was sent: those of the file.
    expect(result.bundle.sha256).toBe(
      createHash('sha256')
        .update(await readFile(out))
        .digest('hex'),
    );

    const copy = path.join(work, 'copy.tar.gz');
    const downloaded = await runFerry(['bundle', 'download', 'front@1', '--out', copy], { env });
    expect(downloaded.code).toBe(0);
    expect(await readFile(copy)).toEqual(await readFile(out));
  });

  it('records who pushed: the name of the token used', async () => {
    const created = await runFerry(
      ['tokens', 'create', '--role', 'deployer', '--name', 'ci-bot', '--json'],
      { env },
    );
    const { token } = JSON.parse(created.stdout) as { token: string };
    const tree = await makeTree(appTree('worker', 'ci'));
    const pushed = await runFerry(['push', tree, '--json'], {
      env: { ...env, FERRY_TOKEN: token },
    });
    expect(JSON.parse(pushed.stdout)).toMatchObject({ bundle: { pushedBy: 'ci-bot' } });
  });
});

describe('warnings a person sees', () => {
  it('ferry bundle and ferry push warn of a service with no health check', async () => {
    const tree = await makeTree(appTree('nohealth', 'v1'));
    const warning =
      'warning: nohealth has a service but no health check: a release that starts and then crashes counts as a success';
    const bundled = await runFerry(['bundle', tree, '--out', path.join(work, 'nohealth.tar.gz')]);
    expect(bundled.code, bundled.stderr).toBe(0);
    expect(bundled.stderr).toContain(warning);
    const pushed = await runFerry(['push', tree], { env });
    expect(pushed.stderr).toContain(warning);
    expect(pushed.stdout).toMatch(/^nohealth@1$/m);

    const healthy = await makeTree({
      ...appTree('healthy', 'v1'),
      'ferry.yml':
        'apps:\n  healthy:\n    service: { command: node server.js }\n    health: { tcp: "127.0.0.1:9" }\n',
    });
    const quiet = await runFerry(['bundle', healthy, '--out', path.join(work, 'healthy.tar.gz')]);
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('warning:');
  });
});

describe('errors a person sees', () => {
  it('lists every manifest problem with its key path and exits 1', async () => {
    const tree = await makeTree({
      'ferry.yml': 'apps:\n  cart:\n    keepReleases: zero\n    servise: {}\n',
    });
    const result = await runFerry(['push', tree], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[E_MANIFEST_INVALID]');
    // In line order, whatever order the schema found them in.
    expect(result.stderr).toMatch(
      /apps\.cart\.keepReleases \(line 3\).*\n.*apps\.cart\.servise \(line 4\): unknown key \(did you mean "service"\?\)/,
    );
    expect(result.stderr).toMatch(/^hint: /m);
  });

  it('says how to get a token when there is none, and when it is wrong', async () => {
    const none = await runFerry(['apps'], { env: { ...env, FERRY_TOKEN: '' } });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('[E_AUTH_REQUIRED]');
    expect(none.stderr).toContain('ferry login');

    const wrong = await runFerry(['apps', '--token', 'ferry_admin_wrong'], { env });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('[E_AUTH_INVALID]');
  });

  it('names a server it cannot reach', async () => {
    const result = await runFerry(['apps', '--server', 'http://127.0.0.1:9'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('[E_SERVER_UNREACHABLE]');
    expect(result.stderr).toContain('http://127.0.0.1:9');
  });

  it('refuses a malformed bundle reference before calling the server', async () => {
    const result = await runFerry(['bundle', 'show', 'cart-12'], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('expected <app>@<version>');
  });
});

describe('ferry login', () => {
  it('checks the token, saves it with mode 0600, and later commands use it', async () => {
    const configDir = path.join(work, 'login-config');
    const loginEnv = { FERRY_CONFIG_DIR: configDir };
    const login = await runFerry(['login', '--server', server.url, '--token', server.adminToken], {
      env: loginEnv,
    });
    expect(login.code).toBe(0);
    expect(login.stdout).toContain('as admin (role admin)');
    const file = path.join(configDir, 'credentials.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const apps = await runFerry(['apps', '--json'], { env: loginEnv });
    expect(apps.code).toBe(0);
    expect(JSON.parse(apps.stdout)).toEqual(expect.any(Array));

    const refused = await runFerry(
      ['login', '--server', server.url, '--token', 'ferry_admin_bad'],
      { env: loginEnv },
    );
    expect(refused.code).toBe(1);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ token: server.adminToken });
  });
});

describe('help', () => {
  it('lists the commands', async () => {
    const result = await runFerry(['--help']);
    for (const command of [
      'bundle',
      'push',
      'apps',
      'bundles',
      'tokens',
      'login',
      'server',
      'demo',
    ]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    }
  });
});
