import { generateKeyPairSync } from 'node:crypto';
import {
  keyFingerprint,
  serverStatement,
  signStatement,
} from '../../../bundle/bundle-signature.js';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BUNDLE_META_FILE } from '../../../bundle/bundle-meta.js';
import { createBundle } from '../../../bundle/pack.js';
import { type InstallJob, PROTOCOL_VERSION } from '../../../protocol/messages.js';
import type { AgentEvent } from '../../../protocol/messages.js';
import type { AgentTransport } from '../../../transport/transport.js';
import type { ProcessDriver, ServiceSpec } from '../../process/process-driver.js';
import { BundleFetcher } from '../bundle-fetcher.js';
import { INSTALLED_MARKER } from '../release-files.js';
import { StepReporter } from '../step-reporter.js';
import { type InstallContext, type InstallMemory, newInstallContext } from './install-step.js';
import { prepareStep } from './prepare-step.js';

/**
 * What the unit tests of the install steps share: a host root of real folders,
 * a real step reporter whose events are kept, a real bundle fetcher whose cache
 * is filled by hand (no server), and a process driver that only records what it
 * is asked (the agent's real drivers have tests of their own).
 */
export interface StepFixture {
  root: string;
  appsDir: string;
  events: AgentEvent[];
  driver: ProcessDriver & { calls: string[]; specs: ServiceSpec[]; failRestart: boolean };
  /** What the journal was told. */
  remembered: string[];
  /** A context for this job, with `prepare` run (as every install does first). */
  context(job?: Partial<InstallJob>, memory?: Partial<InstallMemory>): Promise<InstallContext>;
  /** Each reported step's name and whether it went well, in order. */
  reported(): [string, boolean][];
  /** Everything the steps wrote to their stdout and stderr. */
  output(): string;
  /** Makes a real bundle of `files` and puts it into the fetcher's cache; answers the job fields. */
  bundle(files: Record<string, string>): Promise<Pick<InstallJob, 'sha256' | 'size' | 'manifest'>>;
  /** Writes an installed release `version` on the host, with its bundle meta, and points `current` at it. */
  installed(version: number, manifest: Record<string, unknown>, current?: boolean): Promise<string>;
  close(): Promise<void>;
}

export const APP = 'cart';

/** A manifest section as the server sends it (`role` resolved). */
export function section(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { role: APP, ...extra };
}

/** `throughSymlink`: the root is reached through a symlink (as an agent root under a linked /srv). */
export async function stepFixture(
  options: { throughSymlink?: boolean } = {},
): Promise<StepFixture> {
  const made = await mkdtemp(path.join(os.tmpdir(), 'ferry-step-'));
  const root = options.throughSymlink ? `${made}-link` : made;
  if (options.throughSymlink) await symlink(made, root);
  const appsDir = path.join(root, 'apps');
  const cacheDir = path.join(root, 'agent', 'cache');
  const events: AgentEvent[] = [];
  const transport: AgentTransport = {
    start: () => undefined,
    emit: (event) => events.push(event),
    drain: () => Promise.resolve(),
    onConnection: () => undefined,
    close: () => Promise.resolve(),
  };
  const calls: string[] = [];
  const specs: ServiceSpec[] = [];
  const driver = {
    kind: 'builtin' as const,
    calls,
    specs,
    failRestart: false,
    start: (spec: ServiceSpec) => {
      calls.push(`start ${spec.name}`);
      return Promise.resolve();
    },
    stop: (name: string) => {
      calls.push(`stop ${name}`);
      return Promise.resolve();
    },
    restart(spec: ServiceSpec) {
      calls.push(`restart ${spec.name} ${spec.env.FERRY_VERSION ?? ''}`);
      specs.push(spec);
      return this.failRestart ? Promise.reject(new Error('cannot start')) : Promise.resolve();
    },
    status: () => Promise.resolve({ running: false, pid: null }),
    close: () => Promise.resolve(),
  };
  const remembered: string[] = [];
  // Nothing listens on port 9: a fetch fails after a short wait (the default waits a minute).
  const fetcher = new BundleFetcher(cacheDir, 'http://127.0.0.1:9', 'no-token', {
    budgetMs: 300,
    firstDelayMs: 50,
    maxDelayMs: 100,
  });
  const serverKey = generateKeyPairSync('ed25519');
  const signJob = (job: InstallJob) => ({
    keyId: keyFingerprint(serverKey.publicKey),
    value: signStatement(
      serverKey.privateKey,
      serverStatement({
        app: job.app,
        version: job.version,
        sha256: job.sha256,
        size: job.size,
        label: job.label ?? null,
        commit: job.commit ?? null,
      }),
    ),
  });
  const appDir = path.join(appsDir, APP);
  return {
    root,
    appsDir,
    events,
    driver,
    remembered,
    async context(job = {}, memory = {}) {
      const full: InstallJob = {
        v: PROTOCOL_VERSION,
        id: 'ins_1',
        type: 'install',
        installId: 'ins_1',
        app: APP,
        version: 2,
        sha256: 'a'.repeat(64),
        size: 1,
        manifest: section(),
        vars: {},
        ...job,
      };
      // Signed with the fixture's server key, as the server signs jobs, unless the
      // test gives the signature (or its absence) itself.
      if (!('signature' in job)) full.signature = signJob(full);
      const ctx = newInstallContext(
        full,
        {
          name: 'qa-1',
          appsDir,
          path: process.env.PATH ?? '/usr/bin:/bin',
          home: root,
          commandTimeoutMs: 10_000,
          driver,
          fetcher,
          signingKey: () => Promise.resolve(serverKey.publicKey),
          stateDir: path.join(root, 'agent', 'apps'),
        },
        new StepReporter(transport, full.id),
        {
          previous: undefined,
          rememberPrevious: (previous) => {
            remembered.push(`previous ${previous}`);
            return Promise.resolve();
          },
          rememberReverting: (previous, error) => {
            remembered.push(`reverting to ${previous}: ${error}`);
            return Promise.resolve();
          },
          rememberMigration: (migration) => {
            remembered.push(`migration ${migration}`);
            return Promise.resolve();
          },
          ...memory,
        },
      );
      await prepareStep.run(ctx);
      return ctx;
    },
    reported() {
      return events.flatMap((e): [string, boolean][] =>
        e.type === 'step.finished' ? [[e.step, e.ok]] : [],
      );
    },
    output() {
      return events.map((e) => (e.type === 'step.output' ? e.text : '')).join('');
    },
    async bundle(files) {
      const source = path.join(root, 'source');
      await rm(source, { recursive: true, force: true });
      for (const [rel, content] of Object.entries(files)) {
        await mkdir(path.dirname(path.join(source, rel)), { recursive: true });
        await writeFile(path.join(source, rel), content);
      }
      const created = await createBundle({ sourceDir: source, out: path.join(root, 'b.tar.gz') });
      await mkdir(cacheDir, { recursive: true });
      await copyFile(created.file, path.join(cacheDir, `${created.sha256}.tar.gz`));
      const manifest = created.meta.manifest.apps[APP] as Record<string, unknown>;
      return { sha256: created.sha256, size: created.size, manifest };
    },
    async installed(version, manifest, current = true) {
      const dir = path.join(appDir, 'releases', String(version));
      await mkdir(dir, { recursive: true });
      await writeFile(
        path.join(dir, BUNDLE_META_FILE),
        JSON.stringify({ manifest: { apps: { [APP]: manifest } } }),
      );
      await writeFile(
        path.join(dir, INSTALLED_MARKER),
        `${String(version).repeat(64).slice(0, 64)}\n`,
      );
      if (current) {
        await rm(path.join(appDir, 'current'), { force: true });
        await symlink(path.join('releases', String(version)), path.join(appDir, 'current'));
      }
      return dir;
    },
    close: async () => {
      await rm(made, { recursive: true, force: true });
      if (root !== made) await rm(root, { force: true });
    },
  };
}
