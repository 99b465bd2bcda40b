import { mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HOST_FACTS_VERSION, parseHostFacts } from '../protocol/host-facts.js';
import { HostFactsCollector } from './host-facts.js';
import { writeReleaseSnapshot } from './install/release-snapshot.js';
import { serviceLogs } from './install/service-logs.js';
import { BuiltinDriver } from './process/builtin/builtin-driver.js';

const SECRET = 'hunter2-do-not-report';

let root: string;
let driver: BuiltinDriver;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'ferry-facts-'));
  driver = new BuiltinDriver(path.join(root, 'agent', 'services'));
});
afterEach(async () => {
  await driver.stop('web');
  await driver.close();
  await rm(root, { recursive: true, force: true });
});

/** An app with releases 1 and 2 on disk, 2 current, started with a snapshot holding a secret. */
async function webApp(command = `exec sleep 60 # ${root}`): Promise<void> {
  const releases = path.join(root, 'apps', 'web', 'releases');
  for (const v of ['1', '2']) await mkdir(path.join(releases, v), { recursive: true });
  await symlink(path.join(releases, '2'), path.join(root, 'apps', 'web', 'current'));
  await writeReleaseSnapshot(path.join(releases, '2'), {
    version: 2,
    installId: 'ins_2',
    deploymentId: 'dep_2',
    vars: { REDIS_HOST: 'redis.qa', API_TOKEN: SECRET },
    secrets: ['API_TOKEN'],
    writtenAt: new Date().toISOString(),
  });
  const logs = serviceLogs(path.join(root, 'apps', 'web'), 2);
  await mkdir(logs.dir, { recursive: true });
  await driver.start({
    name: 'web',
    cwd: path.join(root, 'apps', 'web', 'current'),
    command,
    env: { PATH: '/usr/bin:/bin' },
    stdoutFile: logs.stdoutFile,
    stderrFile: logs.stderrFile,
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 2000,
  });
}

describe('HostFactsCollector', () => {
  it("reports the host and each app's releases, service and configuration, in the schema's shape, secrets by name only", async () => {
    await webApp();
    const collector = new HostFactsCollector({
      root,
      path: path.dirname(process.execPath),
      stateDir: path.join(root, 'agent', 'apps'),
      driver,
    });
    const facts = await collector.collect({ roles: ['web'], busy: null });

    expect(parseHostFacts(JSON.parse(JSON.stringify(facts)))).toEqual(facts);
    expect(facts.factsVersion).toBe(HOST_FACTS_VERSION);
    expect(facts.runtimes.node).toBe(process.versions.node);
    expect(facts.cpus).toBe(os.cpus().length);
    expect(facts.disks[0]?.sizeBytes).toBeGreaterThan(0);
    // Nothing to compare the CPU counters with yet; the next report has a share busy.
    expect(facts.cpuBusyPercent).toBeNull();
    const spinUntil = Date.now() + 50;
    while (Date.now() < spinUntil);
    const next = await collector.collect({ roles: ['web'], busy: null });
    expect(next.cpuBusyPercent).toBeGreaterThan(0);
    expect(next.cpuBusyPercent).toBeLessThanOrEqual(100);
    expect(facts.apps.web).toMatchObject({
      releases: [1, 2],
      current: 2,
      previous: 1,
      service: {
        running: true,
        pid: (await driver.status('web')).pid,
        // Two files, as the driver writes them.
        mergedOutput: false,
        // `sleep` wrote nothing.
        stdoutBytes: 0,
      },
      config: {
        installId: 'ins_2',
        vars: [
          { name: 'API_TOKEN', value: null, secret: true },
          { name: 'REDIS_HOST', value: 'redis.qa', secret: false },
        ],
      },
    });
    const uptime = facts.apps.web?.service?.uptimeSeconds;
    expect(uptime).toBeGreaterThanOrEqual(0);
    expect(uptime).toBeLessThan(60);
    expect(JSON.stringify(facts)).not.toContain(SECRET);
  });

  it("reports the size of the current release's stdout log, as the service writes it", async () => {
    await webApp(`echo started; exec sleep 60 # ${root}`);
    const collector = new HostFactsCollector({
      root,
      path: path.dirname(process.execPath),
      stateDir: path.join(root, 'agent', 'apps'),
      driver,
    });
    const stdoutFile = serviceLogs(path.join(root, 'apps', 'web'), 2).stdoutFile;
    // The echo is done once the line is in the file; the facts then say its size.
    await expect.poll(() => readFile(stdoutFile, 'utf8'), { timeout: 10_000 }).toBe('started\n');
    const facts = await collector.collect({ roles: ['web'], busy: null });
    expect(facts.apps.web?.service?.stdoutBytes).toBe('started\n'.length);
  });

  it('says when a service sends its stderr into its stdout file', async () => {
    await webApp(`exec sleep 60 2>&1 # ${root}`);
    const collector = new HostFactsCollector({
      root,
      path: path.dirname(process.execPath),
      stateDir: path.join(root, 'agent', 'apps'),
      driver,
    });
    const facts = await collector.collect({ roles: ['web'], busy: null });
    expect(facts.apps.web?.service).toMatchObject({ running: true, mergedOutput: true });
  });
});
