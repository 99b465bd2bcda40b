import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FerryClient } from '../client/ferry-client.js';
import { ServerTrust } from '../client/server-trust.js';
import { caFingerprint } from '../tls/pem.js';
import { harnessTrust, trustHarnessCa } from './harness-trust.js';
import { FerryError } from '../protocol/errors.js';
import { type ChildExit, FerryChild } from './ferry-child.js';

/** The file the server writes under its data folder once it listens (see run-server.ts). */
const SERVER_URL_FILE = 'server-url';

/** How a local server is started. */
export interface LocalServerOptions {
  /** Its data folder; a new temporary one (removed by `stop()`) unless given. */
  data?: string;
  /** The metadata store: `sqlite` (a file in the data folder, the default) or a PostgreSQL URL. */
  store?: string;
  /**
   * The transport to the agents: `builtin` (the default) or a RabbitMQ URL, which
   * goes in the environment (it may hold a password; `ps` shows arguments).
   */
  transport?: string;
  /** The port; 0 (the default) lets the system choose a free one. */
  port?: number;
  /** The server's YAML configuration (environments, rollout…), written to `<data>/server.yml`. */
  config?: string;
  /** `fatal` … `trace`; `warn` unless told. */
  logLevel?: string;
  /** More `ferry server` flags, after the harness's own (so they win). */
  args?: string[];
  /** More environment (`FERRY_REPLICA_ID`, `FERRY_SECRET_KEY`…). */
  env?: NodeJS.ProcessEnv;
  /** A file that also receives what it prints. */
  logFile?: string;
  /** How long it may take to answer its health check; 30 s unless told. */
  readyTimeoutMs?: number;
}

/**
 * A `ferry server` on this machine. `start()` resolves once it answers
 * `GET /api/v1/health` at the URL it wrote under its data folder, never from
 * what it logs.
 *
 * @example
 *   const server = await LocalServer.start({ store: 'postgres://postgres@127.0.0.1/test' });
 *   new ApiClient(server.url, server.adminToken);
 *   await server.stop();
 */
export class LocalServer {
  private constructor(
    readonly url: string,
    readonly dataDir: string,
    /** The admin token it wrote on its first start; '' for a replica of a store another one made. */
    readonly adminToken: string,
    /**
     * Its own CA (PEM, `<data>/tls/ca.pem`), which clients of it trust; undefined
     * when it speaks plain HTTP (`--insecure-http`) or serves an operator's certificate.
     */
    readonly caPem: string | undefined,
    private readonly ferry: FerryChild,
    private readonly ownsData: boolean,
  ) {}

  static async start(options: LocalServerOptions = {}): Promise<LocalServer> {
    const ownsData = options.data === undefined;
    const dataDir = options.data ?? (await mkdtemp(path.join(os.tmpdir(), 'ferry-server-')));
    await mkdir(dataDir, { recursive: true });
    // What an earlier run wrote is not where this one will listen.
    await rm(path.join(dataDir, SERVER_URL_FILE), { force: true });
    const args = [
      'server',
      '--data',
      dataDir,
      '--port',
      String(options.port ?? 0),
      '--log-level',
      options.logLevel ?? 'warn',
    ];
    if (options.config !== undefined) {
      const file = path.join(dataDir, 'server.yml');
      await writeFile(file, options.config, { mode: 0o600 });
      args.push('--config', file);
    }
    if (options.store !== undefined && options.store !== 'sqlite') {
      args.push('--store-url', options.store);
    }
    const env: NodeJS.ProcessEnv = { ...options.env };
    if (options.transport !== undefined && options.transport !== 'builtin') {
      env.FERRY_TRANSPORT_URL = options.transport;
    }
    const child = FerryChild.spawn({
      args: [...args, ...(options.args ?? [])],
      env,
      ...(options.logFile === undefined ? {} : { logFile: options.logFile }),
    });
    try {
      const url = await waitReady(child, dataDir, options.readyTimeoutMs ?? 30_000);
      const caPem = url.startsWith('https:') ? await readServerCa(dataDir) : undefined;
      // A second replica of a shared store writes no admin token: the first one did.
      const adminToken = (
        await readFile(path.join(dataDir, 'admin-token'), 'utf8').catch(() => '')
      ).trim();
      return new LocalServer(url, dataDir, adminToken, caPem, child, ownsData);
    } catch (err) {
      await child.stop({ signal: 'SIGKILL' });
      if (ownsData) await rm(dataDir, { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * How its clients check it: exactly its own CA; without one (an operator's
   * certificate), the CAs the harness was told of (`trustHarnessCa`).
   */
  get trust(): ServerTrust {
    return this.caPem === undefined ? harnessTrust() : ServerTrust.pinned(this.caPem);
  }

  /** The fingerprint of its CA, as a join string carries it; null without one. */
  get caFingerprint(): string | null {
    return this.caPem === undefined ? null : caFingerprint(this.caPem);
  }

  /** The file of its CA certificate, for `FERRY_CA_FILE`. */
  get caFile(): string {
    return path.join(this.dataDir, 'tls', 'ca.pem');
  }

  /** Its port, to start it again on the same one. */
  get port(): number {
    return Number(new URL(this.url).port);
  }

  /** Its process, to signal or watch it directly. */
  get child(): ChildProcess {
    return this.ferry.process;
  }

  /** Resolves when it has exited, however it ended. */
  get exited(): Promise<ChildExit> {
    return this.ferry.exited;
  }

  /** Everything it has printed so far. */
  output(): string {
    return this.ferry.output();
  }

  /**
   * Stops it: `signal` (SIGTERM unless told), SIGKILL after `graceMs`. Removes a
   * data folder the harness made, unless `keepData`.
   */
  async stop(
    options: { signal?: NodeJS.Signals; graceMs?: number; keepData?: boolean } = {},
  ): Promise<ChildExit> {
    const exit = await this.ferry.stop(options);
    if (this.ownsData && !options.keepData) {
      await rm(this.dataDir, { recursive: true, force: true });
    }
    return exit;
  }
}

/** Waits for the URL file, then for the health check there to pass; fails if the process exits first. */
async function waitReady(child: FerryChild, dataDir: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let exit: ChildExit | undefined;
  void child.exited.then((e) => (exit = e));
  for (;;) {
    if (exit) {
      throw new FerryError(
        'E_LOCAL_CLUSTER',
        `server exited with ${exit.code ?? exit.signal}:\n${child.output()}`,
      );
    }
    const url = (
      await readFile(path.join(dataDir, SERVER_URL_FILE), 'utf8').catch(() => '')
    ).trim();
    // Its CA is written before it listens: the health check trusts exactly that.
    const ca = url.startsWith('https:')
      ? await readServerCa(dataDir).catch(() => undefined)
      : undefined;
    if (url && (await healthy(url, ca))) return url;
    if (Date.now() > deadline) {
      throw new FerryError(
        'E_LOCAL_CLUSTER',
        `server was not healthy within ${timeoutMs} ms (${url ? `at ${url}` : 'it wrote no URL'}):\n${child.output()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The CA of a server the harness started (`<data>/tls/ca.pem`), now trusted
 * by the harness's own calls (see harness-trust.ts).
 */
async function readServerCa(dataDir: string): Promise<string | undefined> {
  const pem = await readFile(path.join(dataDir, 'tls', 'ca.pem'), 'utf8').catch(
    (err: NodeJS.ErrnoException) => {
      // An operator's certificate: no CA of its own.
      if (err.code === 'ENOENT') return undefined;
      throw err;
    },
  );
  if (pem !== undefined) trustHarnessCa(pem);
  return pem;
}

/** Whether a Ferry server answers its health check at `url`, trusting `ca` (or the harness's). */
async function healthy(url: string, ca: string | undefined): Promise<boolean> {
  try {
    const trust = ca === undefined ? harnessTrust() : ServerTrust.pinned(ca);
    // The one route that needs no token.
    const answer = await new FerryClient(url, undefined, trust.clientOptions()).call(
      'health',
      {},
      {
        signal: AbortSignal.timeout(2000),
      },
    );
    return answer.ok === true;
  } catch {
    return false;
  }
}
