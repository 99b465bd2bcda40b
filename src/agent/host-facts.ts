import { execFile } from 'node:child_process';
import { readFile, readdir, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SERVER_VERSION } from '../version.js';
import { healthSpecFrom, waitHealthy } from './health/health-check.js';
import { currentVersion, healthFile, type RememberedHealth } from './install/install-pipeline.js';

/** The budget of the health probe each report makes of each app. */
const PROBE_MS = 2000;

const run = promisify(execFile);

/**
 * What the agent tells the server about its host: OS, CPU, memory, disk, the
 * runtimes present, and for each app the current and previous releases.
 */
export async function collectFacts(
  root: string,
  pathVariable: string,
  stateDir: string,
): Promise<Record<string, unknown>> {
  const disk = await statfs(root).catch(() => undefined);
  return {
    hostname: os.hostname(),
    os: `${os.type()} ${os.release()}`,
    platform: os.platform(),
    arch: os.arch(),
    cpus: os.cpus().length,
    load: os.loadavg().map((l) => Math.round(l * 100) / 100),
    memoryBytes: os.totalmem(),
    freeMemoryBytes: os.freemem(),
    freeDiskBytes: disk ? disk.bavail * disk.bsize : null,
    agentVersion: SERVER_VERSION,
    runtimes: {
      node: await versionOf('node', pathVariable),
      npm: await versionOf('npm', pathVariable),
      python3: await versionOf('python3', pathVariable),
    },
    apps: await releasesOf(path.join(root, 'apps'), stateDir),
  };
}

async function versionOf(command: string, pathVariable: string): Promise<string | null> {
  try {
    const { stdout, stderr } = await run(command, ['--version'], {
      timeout: 10_000,
      env: { PATH: pathVariable, HOME: os.tmpdir() },
    });
    return (
      (stdout || stderr)
        .trim()
        .replace(/^Python /, '')
        .replace(/^v/, '') || null
    );
  } catch {
    return null;
  }
}

async function releasesOf(appsDir: string, stateDir: string): Promise<Record<string, unknown>> {
  const apps: Record<string, unknown> = {};
  for (const app of await readdir(appsDir).catch(() => [])) {
    const releases = (await readdir(path.join(appsDir, app, 'releases')).catch(() => []))
      .map(Number)
      .filter((v) => Number.isInteger(v))
      .sort((a, b) => a - b);
    const current = await currentVersion(path.join(appsDir, app, 'current'));
    const previous = releases.filter((v) => current !== null && v < current).pop() ?? null;
    apps[app] = { current, previous, releases, health: await probe(stateDir, app, current) };
  }
  return apps;
}

/** A short health probe of the app's current release: `ok`, `failing`, or null when unknown. */
async function probe(
  stateDir: string,
  app: string,
  current: number | null,
): Promise<string | null> {
  let remembered: RememberedHealth;
  try {
    remembered = JSON.parse(await readFile(healthFile(stateDir, app), 'utf8')) as RememberedHealth;
  } catch {
    return null;
  }
  if (remembered.version !== current || !remembered.health) return null;
  const spec = { ...healthSpecFrom(remembered.health), timeoutMs: PROBE_MS, intervalMs: 500 };
  const result = await waitHealthy(spec, { cwd: remembered.cwd, env: remembered.env });
  return result.ok ? 'ok' : 'failing';
}
