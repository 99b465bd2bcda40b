import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstallRecord } from '../src/protocol/api.js';
import { MAX_JOB_BYTES } from '../src/protocol/job-size.js';
import { loadSecretKey } from '../src/server/secret-key.js';
import { outboxContext } from '../src/store/kysely/kysely-secret-sealing.js';
import { SecretBox } from '../src/store/secret-box.js';
import { Cluster, waitFor } from './helpers/cluster.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * A job an agent cannot handle — one from a newer server that it does not
 * understand, or one stored before jobs were bounded that is too large for a
 * frame — ends as a failed install with the reason, and the host's queue moves
 * on: the job behind it is carried out. Real server, real agent; the stored
 * jobs are changed in the server's database, as only a version skew or an old
 * outbox would leave them.
 */

let cluster: Cluster;
let version: number;

/** Rewrites the stored job of an install in the server's outbox. */
async function rewriteJob(installId: string, change: (job: Record<string, unknown>) => unknown) {
  const { default: SQLite } = await import('better-sqlite3');
  const db = new SQLite(path.join(cluster.server.dataDir, 'ferry.db'));
  try {
    db.pragma('busy_timeout = 5000');
    const row = db
      .prepare('select host_id, body from outbox where message_id = ?')
      .get(installId) as { host_id: string; body: string } | undefined;
    expect(row, `the job of ${installId} in the outbox`).toBeDefined();
    // Stored jobs carry variables, so the server seals them with its key.
    const { key } = await loadSecretKey({ data: cluster.server.dataDir });
    const box = new SecretBox(key);
    const context = outboxContext(row!.host_id, installId);
    expect(SecretBox.isSealed(row!.body)).toBe(true);
    const job = JSON.parse(box.open(row!.body, context)) as Record<string, unknown>;
    const body = box.seal(JSON.stringify(change(job)), context);
    db.prepare('update outbox set body = ? where message_id = ?').run(body, installId);
  } finally {
    db.close();
  }
}

async function queueInstall(): Promise<string> {
  const sent = await cluster.ferry(['install', `web@${version}`, '--host', 'qa-1', '--detach']);
  expect(sent.code, sent.stderr).toBe(0);
  return /^install (ins_\w+)/m.exec(sent.stdout)![1]!;
}

function ended(id: string): Promise<InstallRecord> {
  return waitFor(`install ${id} to end`, async () => {
    const install = await cluster.api().install(id);
    return ['succeeded', 'failed', 'skipped', 'cancelled'].includes(install.state)
      ? install
      : undefined;
  });
}

beforeAll(async () => {
  cluster = await Cluster.start({ config: 'environments: [{ name: qa }]\n' });
  await cluster.addHost('qa-1', 'qa');
  version = await cluster.push(webAppTree('one'), 'one');
}, 120_000);
afterAll(async () => {
  await cluster?.close();
});

describe('a job the agent cannot handle', () => {
  it('ends as a failed install with the reason, and the job behind it is carried out', async () => {
    await cluster.stopAgent('qa-1', 'SIGTERM');
    const unknown = await queueInstall();
    const oversized = await queueInstall();
    const good = await queueInstall();
    await rewriteJob(unknown, (job) => ({ ...job, type: 'reboot' }));
    await rewriteJob(oversized, (job) => ({
      ...job,
      manifest: { ...(job.manifest as object), notes: 'x'.repeat(MAX_JOB_BYTES) },
    }));
    await cluster.startAgentAgain('qa-1');

    const last = await ended(good);
    expect(last.state, last.error ?? '').toBe('succeeded');
    const first = await ended(unknown);
    expect(first.state).toBe('failed');
    expect(first.error).toContain('this agent cannot handle it');
    const second = await ended(oversized);
    expect(second.state).toBe('failed');
    expect(second.error).toContain(`more than the ${MAX_JOB_BYTES}`);
    expect(await cluster.health('qa-1')).toMatchObject({ ok: true, version: String(version) });
  });
});
