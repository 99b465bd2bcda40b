import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runFerry, type ServerProcess, startServer } from './helpers/ferry-process.js';
import { mountSmallDisk, type SmallDisk } from './helpers/small-disk.js';
import { makeTree } from './helpers/source-tree.js';
import { harnessFetch } from '../src/dev/harness-trust.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function smallDisk(sizeMb: number, dir?: string): Promise<SmallDisk> {
  const disk = await mountSmallDisk(sizeMb, dir);
  if (!disk) throw new Error('these tests need to mount a tmpfs (run as root)');
  cleanups.push(() => disk.unmount());
  return disk;
}

async function server(dataDir: string): Promise<ServerProcess> {
  const started = await startServer([], {}, { dataDir });
  cleanups.push(() => started.stop({ keepData: true }));
  return started;
}

describe('a full disk on the server', () => {
  it('a push that fills the bundle folder answers 507 E_STORAGE_FULL and leaves nothing behind', async () => {
    const data = await mkdtemp(path.join(os.tmpdir(), 'ferry-full-'));
    cleanups.push(() => rm(data, { recursive: true, force: true }));
    const bundles = await smallDisk(4, path.join(data, 'bundles'));
    const srv = await server(data);
    // 6 MB that do not compress: more than the 4 MB disk holds.
    const source = await makeTree({
      'ferry.yml': 'apps:\n  big:\n    service: { command: node server.js }\n',
      'server.js': '',
      'blob.bin': randomBytes(6 * 1024 * 1024),
    });
    cleanups.push(() => rm(source, { recursive: true, force: true }));
    const env = { FERRY_SERVER: srv.url, FERRY_TOKEN: srv.adminToken, FERRY_CONFIG_DIR: data };

    const pushed = await runFerry(['push', source], { env, timeoutMs: 30_000 }).catch(
      (err: Error) => {
        throw new Error(`${err.message}\nserver:\n${srv.output()}`);
      },
    );
    expect(pushed.code).toBe(1);
    expect(pushed.stderr).toContain('[E_STORAGE_FULL]');

    // Nothing kept: no temporary upload, no object, no record.
    expect(await readdir(path.join(bundles.dir, 'tmp'))).toEqual([]);
    expect(await readdir(path.join(bundles.dir, 'objects'))).toEqual([]);
    const listed = await runFerry(['bundles', 'big'], { env });
    expect(listed.stderr).toContain('[E_APP_NOT_FOUND]');
  }, 60_000);

  it('a database write on a full disk answers 507 E_STORAGE_FULL, and works again once there is room', async () => {
    const disk = await smallDisk(16);
    const srv = await server(disk.dir);
    const setVar = (name: string) =>
      harnessFetch(`${srv.url}/api/v1/vars`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${srv.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name, value: 'x'.repeat(60 * 1024), env: 'dev' }),
      });
    expect((await setVar('BEFORE')).ok).toBe(true);

    const filler = await disk.fill();
    let refused: { status: number; body: { code?: string } } | undefined;
    for (let i = 0; i < 40 && !refused; i++) {
      const response = await setVar(`FULL_${i}`);
      if (!response.ok) {
        refused = { status: response.status, body: (await response.json()) as { code?: string } };
      }
    }
    expect(refused).toEqual({
      status: 507,
      body: expect.objectContaining({ code: 'E_STORAGE_FULL' }),
    });

    await rm(filler);
    expect((await setVar('AFTER')).ok).toBe(true);
  }, 60_000);
});
