import { randomBytes } from 'node:crypto';
import https from 'node:https';
import { chmod, lstat, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SecretBox } from '../src/store/secret-box.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { runFerry, type ServerProcess, startServer } from './helpers/ferry-process.js';
import { appTree, makeTree } from './helpers/source-tree.js';
import { newSigningKey } from '../src/bundle/bundle-signature.js';
import { harnessTrust } from '../src/dev/harness-trust.js';

/**
 * The server's data folder is its own (0700 folders, 0600 files), and secret
 * values are sealed at rest: neither the SQLite file nor its WAL holds one,
 * yet the agent gets it. Real server processes, real agents, real files.
 */

const SECRET = 'pw-5f0c2e-only-the-host-may-see-this';

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** Every file and folder under `root`, relative, with its permission bits. */
async function modes(root: string): Promise<Map<string, number>> {
  const found = new Map<string, number>([['.', (await lstat(root)).mode & 0o777]]);
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      found.set(path.relative(root, full), (await lstat(full)).mode & 0o777);
      if (entry.isDirectory()) await walk(full);
    }
  };
  await walk(root);
  return found;
}

/** The raw bytes of the SQLite database and its side files, as one buffer. */
async function databaseBytes(dataDir: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const name of ['ferry.db', 'ferry.db-wal', 'ferry.db-shm']) {
    parts.push(await readFile(path.join(dataDir, name)).catch(() => Buffer.alloc(0)));
  }
  return Buffer.concat(parts);
}

/** Starts a server as `startServer` does, with this process's umask set to `umask` for it. */
async function startWithUmask(
  umask: number,
  dataDir: string,
  env: NodeJS.ProcessEnv = {},
): Promise<ServerProcess> {
  const previous = process.umask(umask);
  try {
    return await startServer([], env, { dataDir });
  } finally {
    process.umask(previous);
  }
}

describe('the data folder', () => {
  it('is 0700 with every file 0600 — db, WAL/SHM, bundles, temp uploads, admin token, key — though the folder was 0755 and the umask 000', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-private-'));
    await chmod(dataDir, 0o755);
    const server = await startWithUmask(0o000, dataDir);
    cleanups.push(() => server.stop());
    const cli = await mkdtemp(path.join(os.tmpdir(), 'ferry-private-cli-'));
    cleanups.push(() => rm(cli, { recursive: true, force: true }));
    const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken, FERRY_CONFIG_DIR: cli };
    const set = await runFerry(
      ['vars', 'set', `DB_PASSWORD=${SECRET}`, '--env', 'qa', '--secret'],
      {
        env,
      },
    );
    expect(set.code, set.stderr).toBe(0);
    const src = await makeTree(appTree('web', 'private one'));
    cleanups.push(() => rm(src, { recursive: true, force: true }));
    const pushed = await runFerry(['push', src], { env });
    expect(pushed.code, pushed.stderr).toBe(0);

    // An upload under way: its temporary file is there while the body trickles in.
    const file = path.join(src, 'web.tar.gz');
    const made = await runFerry(['bundle', src, '--out', file], { env });
    expect(made.code, made.stderr).toBe(0);
    const bytes = await readFile(file);
    const upload = https.request(`${server.url}/api/v1/bundles`, {
      agent: harnessTrust().agent,
      method: 'POST',
      headers: {
        authorization: `Bearer ${server.adminToken}`,
        'content-type': 'application/gzip',
        'content-length': String(bytes.length),
      },
    });
    upload.on('error', () => {});
    upload.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
    const tmp = path.join(dataDir, 'bundles', 'tmp');
    await waitFor('the upload to reach a temporary file', async () =>
      (await readdir(tmp)).length > 0 ? true : undefined,
    );

    const found = await modes(dataDir);
    const wrong: string[] = [];
    for (const [name, mode] of found) {
      // Checked while the upload still runs: once it is cut off, its temporary file
      // goes (and SQLite's side files come and go): what vanished was a file.
      const entry = await lstat(path.join(dataDir, name)).catch(() => undefined);
      const wanted = entry?.isDirectory() ? 0o700 : 0o600;
      if (mode !== wanted) wrong.push(`${name} is ${mode.toString(8)}, not ${wanted.toString(8)}`);
    }
    upload.destroy();
    expect(wrong).toEqual([]);

    const names = [...found.keys()];
    for (const expected of [
      'ferry.db',
      'ferry.db-wal',
      'ferry.db-shm',
      'admin-token',
      'secret.key',
      'signing.key',
      'bundles',
      'bundles/objects',
      'bundles/tmp',
    ]) {
      expect(names).toContain(expected);
    }
    expect(names.some((n) => n.startsWith('bundles/tmp/upload-'))).toBe(true);
    expect(names.some((n) => /^bundles\/objects\/[0-9a-f]{2}\/[0-9a-f]{64}$/.test(n))).toBe(true);

    // The secret is sealed: not in the database file, nor its WAL.
    expect((await databaseBytes(dataDir)).includes(SECRET)).toBe(false);
    // And the key is never printed.
    const key = (await readFile(path.join(dataDir, 'secret.key'), 'utf8')).trim();
    expect(server.output()).not.toContain(key);
    expect(server.output()).toContain(path.join(dataDir, 'secret.key'));
    // Nor the signing key: only where it is, and its public fingerprint.
    const signing = await readFile(path.join(dataDir, 'signing.key'), 'utf8');
    expect(server.output()).not.toContain(signing.split('\n')[1]!);
    expect(server.output()).toMatch(
      new RegExp(`${path.join(dataDir, 'signing.key')} \\(mode 0600; public key SHA256:`),
    );
  }, 60_000);
});

describe('secret values at rest', () => {
  it('reach the agent, though the database never holds them in the clear', async () => {
    const cluster = await Cluster.start();
    cleanups.push(() => cluster.close());
    const set = await cluster.ferry([
      'vars',
      'set',
      `DB_PASSWORD=${SECRET}`,
      '--env',
      'qa',
      '--secret',
    ]);
    expect(set.code, set.stderr).toBe(0);
    await cluster.addHost('qa-1', 'qa', { roles: ['keeper'] });
    const files = {
      'ferry.yml': [
        'apps:',
        '  keeper:',
        '    service:',
        '      command: node server.js',
        '      env: { DB_PASSWORD: "${DB_PASSWORD}", PORT: "${PORT}" }',
        '    health: { http: "http://127.0.0.1:${PORT}/health", timeout: 20s }',
        '',
      ].join('\n'),
      'server.js': [
        "const fs = require('node:fs');",
        "fs.writeFileSync('seen-password', process.env.DB_PASSWORD ?? '');",
        "require('node:http').createServer((q, r) => r.end('{\"ok\":true}')).listen(Number(process.env.PORT), '127.0.0.1');",
        '',
      ].join('\n'),
      'package.json': '{"name":"keeper","private":true}\n',
    };
    const version = await cluster.push(files, 'keeper-1');
    const deployment = await waitFor('the qa deployment to end', async () => {
      const [d] = await cluster.api().deployments({ app: 'keeper', env: 'qa', limit: 1 });
      return d && !['pending', 'running'].includes(d.state) ? d : undefined;
    });
    expect(deployment.state, JSON.stringify(deployment)).toBe('succeeded');
    const seen = await readFile(
      path.join(
        cluster.host('qa-1').root,
        'apps',
        'keeper',
        'releases',
        String(version),
        'seen-password',
      ),
      'utf8',
    );
    expect(seen).toBe(SECRET);
    expect((await databaseBytes(cluster.server.dataDir)).includes(SECRET)).toBe(false);
  }, 120_000);

  it('written in the clear by an older Ferry are sealed on start and still open; a server with another key refuses to start', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'ferry-legacy-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    // What an older Ferry left: the secret as it was set, in plaintext.
    const old = SqliteStore.open(path.join(dataDir, 'ferry.db'));
    await old.migrate();
    await old.variables.set({
      name: 'DB_PASSWORD',
      scope: { kind: 'env', value: 'qa' },
      value: SECRET,
      secret: true,
      updatedAt: new Date().toISOString(),
      updatedBy: 'admin',
    });
    await old.close();
    expect((await databaseBytes(dataDir)).includes(SECRET)).toBe(true);

    const server = await startServer([], {}, { dataDir });
    const listed = await runFerry(['vars', 'list', '--json'], {
      env: { FERRY_SERVER: server.url, FERRY_TOKEN: await token(dataDir) },
    });
    await server.stop({ keepData: true });
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.parse(listed.stdout)).toMatchObject([
      { name: 'DB_PASSWORD', secret: true, value: null },
    ]);
    expect((await databaseBytes(dataDir)).includes(SECRET)).toBe(false);
    // It opens with the server's key, to the value that was set.
    const key = Buffer.from(
      (await readFile(path.join(dataDir, 'secret.key'), 'utf8')).trim(),
      'base64',
    );
    const reopened = SqliteStore.open(path.join(dataDir, 'ferry.db'), {
      secrets: new SecretBox(key),
    });
    const variable = await reopened.variables.get('DB_PASSWORD', { kind: 'env', value: 'qa' });
    await reopened.close();
    expect(variable?.value).toBe(SECRET);

    // Another key (a replica given the wrong FERRY_SECRET_KEY): it stops, and says why.
    const other = randomBytes(32).toString('base64');
    const refused = await startServer([], { FERRY_SECRET_KEY: other }, { dataDir }).then(
      (s) => s.stop({ keepData: true }).then(() => 'started'),
      (err: Error) => err.message,
    );
    expect(refused).toContain('E_SECRET_KEY_MISMATCH');
    expect(refused).toMatch(/exited with [1-9]/);
    expect(refused).not.toContain(other);
    expect(refused).not.toContain(key.toString('base64'));

    // Another signing key (a replica given the wrong FERRY_SIGNING_KEY): it stops too.
    const otherSigning = newSigningKey().privateKeyPem;
    const notSigning = await startServer([], { FERRY_SIGNING_KEY: otherSigning }, { dataDir }).then(
      (s) => s.stop({ keepData: true }).then(() => 'started'),
      (err: Error) => err.message,
    );
    expect(notSigning).toContain('E_SIGNING_KEY_MISMATCH');
    expect(notSigning).not.toContain(otherSigning.split('\n')[1]!);
  }, 60_000);
});

/** The admin token a server wrote in its data folder. */
async function token(dataDir: string): Promise<string> {
  return (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
}
