import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FsArtifactStore } from '../../src/artifacts/fs/fs-artifact-store.js';
import { type BuiltServer, buildServer } from '../../src/server/build-server.js';
import { serverConfigSchema } from '../../src/server/server-config.js';
import { openStore } from '../../src/store/open-store.js';
import { SecretBox } from '../../src/store/secret-box.js';
import type { Store } from '../../src/store/store.js';

/** An in-process server on a SQLite store in a folder of its own, with an admin token. */
export interface SqliteServer {
  dir: string;
  store: Store;
  server: BuiltServer;
  admin: string;
  /** Closes the server and the store, and removes the folder. */
  close(): Promise<void>;
}

/**
 * A real server (not listening yet: `server.app.listen` or `inject`) on a real
 * SQLite store and artifact folder, for unit suites that need the API.
 *
 * @example
 *   const { server, admin, close } = await openSqliteServer('ferry-client-');
 */
export async function openSqliteServer(prefix: string): Promise<SqliteServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const store = await openStore(
    { driver: 'sqlite', file: path.join(dir, 'ferry.db') },
    new SecretBox(randomBytes(32)),
  );
  await store.migrate();
  const artifacts = new FsArtifactStore(path.join(dir, 'artifacts'));
  await artifacts.init();
  const server = buildServer(serverConfigSchema.parse({ data: dir, logLevel: 'silent' }), {
    store,
    artifacts,
  });
  const admin = (await server.tokens.create({ role: 'admin' }, null)).token;
  return {
    dir,
    store,
    server,
    admin,
    async close() {
      await server.app.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
