import { copyFile, mkdir, mkdtemp, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../src/bundle/hashing.js';
import { type Cluster as ClusterType, Cluster, waitFor } from './helpers/cluster.js';
import { envAppTree } from './helpers/env-app.js';
import { runFerry } from './helpers/ferry-process.js';
import { makeTree } from './helpers/source-tree.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

/**
 * Signed bundles, end to end with real processes: the server signs what it
 * accepts and an agent refuses a bundle whose bytes and record were both
 * changed on the server's disk; an environment that requires developers'
 * signatures takes only bundles signed by a key it names.
 */

let cluster: ClusterType;
const keys: Record<string, { file: string; publicKey: string }> = {};

beforeAll(async () => {
  // Keys are made with the CLI, as a developer would; `carol` is named nowhere.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-keys-'));
  for (const name of ['alice', 'bob', 'carol']) {
    const file = path.join(dir, `${name}.key`);
    const made = await runFerry(['keys', 'create', file]);
    expect(made.code, made.stderr).toBe(0);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    keys[name] = { file, publicKey: made.stdout.trim() };
  }
  cluster = await Cluster.start({
    config: [
      'developerKeys:',
      `  alice: ${keys.alice!.publicKey}`,
      `  bob: ${keys.bob!.publicKey}`,
      'environments:',
      '  - { name: dev }',
      '  - { name: qa }',
      '  - { name: prod, requireSignedBy: [alice] }',
      '',
    ].join('\n'),
  });
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

/** Pushes a source tree (optionally signed) and answers its version. */
async function push(files: Record<string, string>, label: string, sign?: string): Promise<number> {
  const dir = await makeTree(files, path.join(cluster.work, 'src', label));
  const pushed = await cluster.ferry([
    'push',
    dir,
    '--label',
    label,
    ...(sign ? ['--sign', keys[sign]!.file] : []),
  ]);
  expect(pushed.code, pushed.stderr).toBe(0);
  return Number(/^web@(\d+)$/m.exec(pushed.stdout)![1]);
}

describe('the server signs bundles and agents check the signature', () => {
  it('refuses a bundle tampered with on the server after the push, and the host stays on its release', async () => {
    const host = await cluster.addHost('dev-1', 'dev');
    const first = await push(envAppTree('web'), 'one');
    const deployed = await cluster.ferry(['deploy', `web@${first}`, '--env', 'dev']);
    expect(deployed.code, deployed.stderr + cluster.logs()).toBe(0);
    expect((await cluster.health('dev-1'))?.version).toBe(String(first));

    const second = await push(
      { ...envAppTree('web'), 'notes.txt': 'the real second release' },
      'two',
    );
    // The attacker has the server's disk: other bytes in the artifact folder, and
    // the record's sha256 and size rewritten to match them.
    const evilDir = await makeTree(
      { ...envAppTree('web'), 'evil.js': 'console.log("owned")' },
      path.join(cluster.work, 'src', 'evil'),
    );
    const evilFile = path.join(cluster.work, 'evil.tar.gz');
    const made = await cluster.ferry(['bundle', evilDir, '--out', evilFile]);
    expect(made.code, made.stderr).toBe(0);
    const evilSha = await sha256File(evilFile);
    const evilSize = (await stat(evilFile)).size;
    const data = cluster.server.dataDir;
    const object = path.join(data, 'bundles', 'objects', evilSha.slice(0, 2), evilSha);
    await mkdir(path.dirname(object), { recursive: true });
    await copyFile(evilFile, object);
    const db = new Database(path.join(data, 'ferry.db'));
    try {
      const changed = db
        .prepare('UPDATE bundles SET sha256 = ?, size = ? WHERE app = ? AND version = ?')
        .run(evilSha, evilSize, 'web', second);
      expect(changed.changes).toBe(1);
    } finally {
      db.close();
    }

    const refused = await cluster.ferry(['deploy', `web@${second}`, '--env', 'dev', '--json']);
    expect(refused.code).not.toBe(0);
    const deployment = JSON.parse(refused.stdout) as { id: string; state: string };
    // Failed, and the rollout put its hosts back (rollbackOnFailure).
    expect(deployment.state, refused.stdout + refused.stderr).toBe('rolled_back');
    const logs = await cluster.ferry(['logs', deployment.id]);
    expect(logs.stdout).toMatch(
      new RegExp(
        `refusing to unpack web@${second}: its signature does not verify with the server's signing key SHA256:\\S+ — the bundle or its record \\(sha256 ${evilSha}`,
      ),
    );
    // Nothing of it was unpacked; `current` and the running service are the first release's.
    const appDir = path.join(host.root, 'apps', 'web');
    expect(await readlink(path.join(appDir, 'current'))).toBe(`releases/${first}`);
    await expect(stat(path.join(appDir, 'releases', String(second)))).rejects.toThrow();
    expect((await cluster.health('dev-1'))?.version).toBe(String(first));
  }, 180_000);

  it('never signs a record whose signature was removed, unless the operator says so', async () => {
    const pushed = await push(
      { ...envAppTree('web'), 'notes.txt': 'to be unsigned' },
      'unsigned-row',
    );
    // The attacker nulls the signature and points the record at other bytes,
    // hoping the next start signs it.
    const evilDir = await makeTree(
      { ...envAppTree('web'), 'evil.js': 'console.log("owned again")' },
      path.join(cluster.work, 'src', 'evil-2'),
    );
    const evilFile = path.join(cluster.work, 'evil-2.tar.gz');
    expect((await cluster.ferry(['bundle', evilDir, '--out', evilFile])).code).toBe(0);
    const evilSha = await sha256File(evilFile);
    const data = cluster.server.dataDir;
    const object = path.join(data, 'bundles', 'objects', evilSha.slice(0, 2), evilSha);
    await mkdir(path.dirname(object), { recursive: true });
    await copyFile(evilFile, object);
    const serverSignature = () => {
      const db = new Database(path.join(data, 'ferry.db'));
      try {
        return (
          db
            .prepare('SELECT server_signature FROM bundles WHERE app = ? AND version = ?')
            .get('web', pushed) as { server_signature: string | null }
        ).server_signature;
      } finally {
        db.close();
      }
    };
    const db = new Database(path.join(data, 'ferry.db'));
    try {
      const changed = db
        .prepare(
          'UPDATE bundles SET server_signature = NULL, sha256 = ?, size = ? WHERE app = ? AND version = ?',
        )
        .run(evilSha, (await stat(evilFile)).size, 'web', pushed);
      expect(changed.changes).toBe(1);
    } finally {
      db.close();
    }

    await cluster.restartServer('SIGTERM');
    expect(serverSignature()).toBeNull();
    expect(cluster.server.output()).toMatch(
      new RegExp(
        `Warning: 1 bundles have no server signature.*web@${pushed} \\(sha256 ${evilSha.slice(0, 12)}`,
      ),
    );
    const current = (await cluster.health('dev-1'))?.version;
    const refused = await cluster.ferry(['deploy', `web@${pushed}`, '--env', 'dev', '--json']);
    expect(refused.code).not.toBe(0);
    const deployment = JSON.parse(refused.stdout) as { id: string };
    const logs = await cluster.ferry(['logs', deployment.id]);
    expect(logs.stdout).toContain(`refusing to unpack web@${pushed}: the job carries no signature`);
    expect((await cluster.health('dev-1'))?.version).toBe(current);

    // The operator's explicit action signs it (here: the record as it is).
    await cluster.restartServer('SIGTERM', ['--sign-unsigned-bundles']);
    expect(serverSignature()).not.toBeNull();
    expect(cluster.server.output()).toContain(
      `Signed 1 bundles that had no signature, with SHA256:`,
    );
    expect(cluster.server.output()).toContain(`web@${pushed} (sha256 ${evilSha.slice(0, 12)}`);
  }, 180_000);

  it('gives an agent enrolled before signatures the key once, which it keeps', async () => {
    const identityFile = path.join(cluster.host('dev-1').root, 'agent', 'identity.json');
    const identity = JSON.parse(await readFile(identityFile, 'utf8')) as Record<string, string>;
    const { publicKey } = await cluster.api().client.call('signingKey', {});
    expect(identity.signingKey).toBe(publicKey);
    // As an agent of an older Ferry left it: no key.
    await cluster.stopAgent('dev-1');
    delete identity.signingKey;
    await writeFile(identityFile, JSON.stringify(identity));
    await cluster.startAgentAgain('dev-1');
    await waitFor('the agent to fetch the key', async () => {
      const kept = JSON.parse(await readFile(identityFile, 'utf8')) as Record<string, string>;
      return kept.signingKey === publicKey ? true : undefined;
    });
    const third = await push({ ...envAppTree('web'), 'notes.txt': 'the third release' }, 'three');
    const deployed = await cluster.ferry(['deploy', `web@${third}`, '--env', 'dev']);
    expect(deployed.code, deployed.stderr + cluster.logs()).toBe(0);
    expect((await cluster.health('dev-1'))?.version).toBe(String(third));
  }, 120_000);

  it('shows who signed a bundle', async () => {
    const shown = await cluster.ferry(['bundle', 'show', 'web@1']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^signed: +by the server \(key SHA256:\S+\)$/m);
  });
});

describe('an environment that requires developer signatures', () => {
  it('refuses an unsigned bundle, naming the environment and the keys', async () => {
    const unsigned = await push({ ...envAppTree('web'), 'n.txt': 'unsigned' }, 'unsigned');
    const refused = await cluster.ferry(['deploy', `web@${unsigned}`, '--env', 'prod']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('[E_SIGNATURE_REQUIRED]');
    expect(refused.stderr).toContain(
      `prod takes only bundles signed by alice: web@${unsigned} is not signed by any developer`,
    );
  });

  it('refuses a bundle signed by a key it does not list, named or not', async () => {
    const byBob = await push({ ...envAppTree('web'), 'n.txt': 'bob' }, 'bob', 'bob');
    const refused = await cluster.ferry(['deploy', `web@${byBob}`, '--env', 'prod']);
    expect(refused.stderr).toContain(`web@${byBob} is signed only by bob, not a key prod requires`);
    const byCarol = await push({ ...envAppTree('web'), 'n.txt': 'carol' }, 'carol', 'carol');
    const alsoRefused = await cluster.ferry(['deploy', `web@${byCarol}`, '--env', 'prod']);
    expect(alsoRefused.code).not.toBe(0);
    expect(alsoRefused.stderr).toMatch(
      new RegExp(`web@${byCarol} is signed only by SHA256:\\S+, not a key prod requires`),
    );
  });

  it('takes a bundle signed by a key it lists, and shows who signed it', async () => {
    await cluster.addHost('prod-1', 'prod');
    const signed = await push({ ...envAppTree('web'), 'n.txt': 'alice' }, 'alice', 'alice');
    const deployed = await cluster.ferry(['deploy', `web@${signed}`, '--env', 'prod']);
    expect(deployed.code, deployed.stdout + deployed.stderr).toBe(0);
    expect((await cluster.health('prod-1'))?.version).toBe(String(signed));
    const shown = await cluster.ferry(['bundle', 'show', `web@${signed}`]);
    expect(shown.stdout).toMatch(/^signed: +by the server \(key SHA256:\S+\)$/m);
    expect(shown.stdout).toMatch(/^signed: +by alice \(developer key SHA256:\S+\)$/m);
    // Each signature's value, as the API answers it.
    const bundle = await cluster.api().client.call('bundle', {
      params: { app: 'web', version: signed },
    });
    expect(bundle.signatures.map((s) => [s.name, s.verified, s.problem])).toEqual([
      [null, true, null],
      ['alice', true, null],
    ]);
    for (const s of bundle.signatures) {
      expect(shown.stdout).toContain(`\nsignature: ${s.signature}\n`);
    }
  });

  it('says a signature does not verify instead of naming its key', async () => {
    const signed = await push({ ...envAppTree('web'), 'n.txt': 'relabelled' }, 'relabel', 'alice');
    const db = new Database(path.join(cluster.server.dataDir, 'ferry.db'));
    try {
      db.prepare('UPDATE bundles SET label = ? WHERE app = ? AND version = ?').run(
        'not-what-alice-signed',
        'web',
        signed,
      );
    } finally {
      db.close();
    }
    const shown = await cluster.ferry(['bundle', 'show', `web@${signed}`]);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).not.toContain('by alice');
    expect(shown.stdout).not.toContain('by the server');
    expect(shown.stdout).toMatch(
      /^signed: +signature does not verify \(developer key SHA256:\S+\): the bundle's record changed since it was signed/m,
    );
    expect(shown.stdout).toMatch(/^signed: +signature does not verify \(the server's key SHA256:/m);
    // The API and the dashboard's answer say so too, naming no one.
    const answered = await cluster.api().client.call('bundle', {
      params: { app: 'web', version: signed },
    });
    expect(answered.signatures.map((s) => [s.by, s.name, s.verified])).toEqual([
      ['server', null, false],
      ['developer', null, false],
    ]);
    expect(answered.signatures[1]!.problem).toContain('the record changed since it was signed');
  });

  it('refuses `ferry install` of an unsigned bundle on one of its hosts, recording nothing', async () => {
    const unsigned = await push({ ...envAppTree('web'), 'n.txt': 'installed by hand' }, 'by-hand');
    const response = await harnessFetch(`${cluster.server.url}/api/v1/installs`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${cluster.server.adminToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ app: 'web', version: unsigned, host: 'prod-1' }),
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({
      code: 'E_SIGNATURE_REQUIRED',
      message: `prod takes only bundles signed by alice: web@${unsigned} is not signed by any developer`,
    });
    const db = new Database(path.join(cluster.server.dataDir, 'ferry.db'), { readonly: true });
    try {
      const installs = db
        .prepare('SELECT count(*) AS n FROM installs WHERE app = ? AND version = ?')
        .get('web', unsigned) as { n: number };
      expect(installs.n).toBe(0);
    } finally {
      db.close();
    }
  });

  it('adds a signature to a bundle pushed again signed, so that it may enter', async () => {
    // One bundle file, pushed twice: the same bytes.
    const dir = await makeTree(
      { ...envAppTree('web'), 'n.txt': 'later' },
      path.join(cluster.work, 'src', 'later'),
    );
    const file = path.join(cluster.work, 'later.tar.gz');
    expect((await cluster.ferry(['bundle', dir, '--label', 'later', '--out', file])).code).toBe(0);
    const first = await cluster.ferry(['push', file]);
    expect(first.code, first.stderr).toBe(0);
    const version = Number(/^web@(\d+)$/m.exec(first.stdout)![1]);
    expect((await cluster.ferry(['deploy', `web@${version}`, '--env', 'prod'])).stderr).toContain(
      '[E_SIGNATURE_REQUIRED]',
    );
    const again = await cluster.ferry(['push', file, '--sign', keys.alice!.file]);
    expect(again.stdout).toContain(`web@${version} (already pushed: same sha256)`);
    const deployed = await cluster.ferry(['deploy', `web@${version}`, '--env', 'prod']);
    expect(deployed.code, deployed.stderr).toBe(0);
  });

  it('refuses at push a signature that does not match the bundle', async () => {
    // A key file that is not a key, and a signature over other bytes.
    const bogus = path.join(cluster.work, 'bogus.key');
    await writeFile(bogus, 'not a key');
    const dir = await makeTree(envAppTree('web'), path.join(cluster.work, 'src', 'bogus'));
    const bad = await cluster.ferry(['push', dir, '--sign', bogus]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('[E_KEY_INVALID]');
    const response = await harnessFetch(
      `${cluster.server.url}/api/v1/bundles?signature=${encodeURIComponent('A'.repeat(86) + '==')}&signedBy=${encodeURIComponent(keys.alice!.publicKey)}`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${cluster.server.adminToken}`,
          'content-type': 'application/gzip',
        },
        body: await readFile(path.join(cluster.work, 'evil.tar.gz')),
      },
    );
    expect(response.status).toBe(400);
    expect(((await response.json()) as { code: string }).code).toBe('E_SIGNATURE_INVALID');
    // A signature without its key says so.
    const half = await harnessFetch(
      `${cluster.server.url}/api/v1/bundles?signature=${encodeURIComponent('A'.repeat(86) + '==')}`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${cluster.server.adminToken}`,
          'content-type': 'application/gzip',
        },
        body: await readFile(path.join(cluster.work, 'evil.tar.gz')),
      },
    );
    expect(half.status).toBe(400);
    expect(await half.json()).toMatchObject({
      code: 'E_BAD_REQUEST',
      message: 'A signed push sends both `signature` and `signedBy` (the public key)',
    });
  });
});
