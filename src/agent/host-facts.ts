import { readdir, readFile, realpath, stat as fileStat, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  type AppFacts,
  type ConfigFacts,
  type DiskFacts,
  HOST_FACTS_LIMITS,
  HOST_FACTS_VERSION,
  type HostFacts,
  hostFactsSchema,
  type Runtimes,
  type ServiceFacts,
} from '../protocol/host-facts.js';
import { SERVER_VERSION } from '../version.js';
import { healthSpecFrom, waitHealthy } from './health/health-check.js';
import { healthFile, type RememberedHealth } from './install/remembered-health.js';
import { currentVersion } from './install/release-files.js';
import { readReleaseSnapshot } from './install/release-snapshot.js';
import { serviceLogs } from './install/service-logs.js';
import { mergedOutput } from './process/merged-output.js';
import type { ProcessDriver } from './process/process-driver.js';
import { RuntimeProbe } from './runtime-probe.js';

/** The budget of the health probe each report makes of each app. */
const PROBE_MS = 2000;

/** What an app's folder is named: the install job's `app`. */
const APP_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** Clock ticks per second of `/proc/<pid>/stat` times: 100 on every Linux Ferry runs on. */
const CLOCK_TICKS = 100;

/** Where the agent looks, and what runs the services. */
export interface HostFactsOptions {
  root: string;
  /** The PATH of commands, on which the runtimes are looked for. */
  path: string;
  /** The agent's own state per app (the health check it remembers). */
  stateDir: string;
  driver: ProcessDriver;
  /**
   * The continuous health watch's last finding for an app's release, when it
   * has one: the report then says that, and probes only an app it does not
   * watch (one check of a service per interval, not two).
   */
  watchedHealth?: (app: string, version: number) => 'healthy' | 'failing' | 'stopped' | undefined;
}

/**
 * What the agent tells the server about its host, in the facts schema's shape
 * (validated before it goes): the machine, the runtimes on the PATH (probed at
 * start and when a runtime's binary changes, not at every report), and for each app its
 * releases, the service running it and the configuration it runs — secrets by
 * name only.
 *
 * @example
 *   const collector = new HostFactsCollector({ root, path, stateDir, driver });
 *   transport.emit({ ..., type: 'facts', facts: await collector.collect({ roles, busy }) });
 */
export class HostFactsCollector {
  private readonly runtimes: RuntimeProbe;
  /** The OS's name does not change while the agent runs: read once. */
  private osName: Promise<string | null> | undefined;
  /** The health watch's finding for an app's current release, in the facts' words. */
  private watchedHealth(app: string, current: number | null): 'ok' | 'failing' | undefined {
    if (current === null || !this.options.watchedHealth) return undefined;
    const state = this.options.watchedHealth(app, current);
    return state === undefined ? undefined : state === 'healthy' ? 'ok' : 'failing';
  }

  /** The CPU counters at the last report, for the share busy since. */
  private cpuTimes: { busy: number; total: number } | undefined;

  constructor(private readonly options: HostFactsOptions) {
    this.runtimes = new RuntimeProbe(options.path);
  }

  /** The runtimes' versions, probed again only when a runtime's binary changes. */
  runtimeVersions(): Promise<Runtimes> {
    return this.runtimes.versions();
  }

  async collect(agent: { roles: string[]; busy: string | null }): Promise<HostFacts> {
    const { root } = this.options;
    this.osName ??= osRelease();
    const facts = {
      factsVersion: HOST_FACTS_VERSION,
      collectedAt: new Date().toISOString(),
      hostname: os.hostname(),
      os: (await this.osName) ?? os.type(),
      kernel: os.release(),
      platform: os.platform(),
      arch: os.arch(),
      cpus: os.cpus().length,
      memory: { totalBytes: os.totalmem(), freeBytes: os.freemem() },
      disks: await disksOf(root),
      cpuBusyPercent: this.cpuBusyPercent(),
      load: os.loadavg().map((l) => Math.round(l * 100) / 100),
      runtimes: await this.runtimes.versions(),
      agentVersion: SERVER_VERSION,
      roles: agent.roles,
      busy: agent.busy,
      apps: await this.apps(path.join(root, 'apps')),
    };
    return hostFactsSchema.parse(facts);
  }

  /**
   * The share of CPU time spent busy since the last call (all CPUs together,
   * one decimal), from the kernel's counters that `os.cpus()` reads; null the
   * first time, when there is nothing to compare with.
   */
  private cpuBusyPercent(): number | null {
    let busy = 0;
    let total = 0;
    for (const cpu of os.cpus()) {
      const { user, nice, sys, idle, irq } = cpu.times;
      busy += user + nice + sys + irq;
      total += user + nice + sys + idle + irq;
    }
    const previous = this.cpuTimes;
    this.cpuTimes = { busy, total };
    if (previous === undefined || total <= previous.total) return null;
    const share = ((busy - previous.busy) / (total - previous.total)) * 100;
    return Math.min(100, Math.max(0, Math.round(share * 10) / 10));
  }

  private async apps(appsDir: string): Promise<Record<string, AppFacts>> {
    const apps: Record<string, AppFacts> = {};
    // Only folders named as apps are (a stray folder is none of the server's business).
    const names = (await readdir(appsDir).catch(() => []))
      .filter((name) => APP_NAME.test(name))
      .sort();
    for (const app of names.slice(0, HOST_FACTS_LIMITS.apps)) {
      const releases = (await readdir(path.join(appsDir, app, 'releases')).catch(() => []))
        .map(Number)
        .filter((v) => Number.isInteger(v) && v >= 0)
        .sort((a, b) => a - b)
        .slice(-HOST_FACTS_LIMITS.releases);
      const current = await currentVersion(path.join(appsDir, app, 'current'));
      apps[app] = {
        releases,
        current,
        previous: releases.filter((v) => current !== null && v < current).pop() ?? null,
        health:
          this.watchedHealth(app, current) ?? (await probe(this.options.stateDir, app, current)),
        service:
          current === null
            ? null
            : await this.service(app, serviceLogs(path.join(appsDir, app), current).stdoutFile),
        config:
          current === null
            ? null
            : await configOf(path.join(appsDir, app, 'releases', String(current))),
      };
    }
    return apps;
  }

  /** The app's service as its driver sees it; null when the driver cannot say. */
  private async service(app: string, stdoutFile: string): Promise<ServiceFacts | null> {
    try {
      const status = await this.options.driver.status(app);
      const pid = status.running ? status.pid : null;
      return {
        running: status.running,
        pid: status.pid,
        uptimeSeconds: pid !== null ? await uptimeOf(pid) : null,
        mergedOutput: pid !== null ? await mergedOutput(pid) : null,
        stdoutBytes: await fileStat(stdoutFile).then(
          (s) => s.size,
          () => null,
        ),
      };
    } catch {
      return null;
    }
  }
}

/** `PRETTY_NAME` of /etc/os-release (`Debian GNU/Linux 12 (bookworm)`), or null. */
async function osRelease(): Promise<string | null> {
  try {
    const text = await readFile('/etc/os-release', 'utf8');
    const line = /^PRETTY_NAME=(.*)$/m.exec(text)?.[1];
    return line ? line.replace(/^["']|["']$/g, '') : null;
  } catch {
    return null;
  }
}

/** The filesystem of the agent's root (and `/`, when another): size and space free. */
async function disksOf(root: string): Promise<DiskFacts[]> {
  const mounts = await mountPoints();
  const disks: DiskFacts[] = [];
  for (const where of [root, '/']) {
    const real = await realpath(where).catch(() => where);
    const mount = mounts.filter((m) => isWithin(real, m)).sort((a, b) => b.length - a.length)[0];
    const name = mount ?? real;
    if (disks.some((d) => d.mount === name)) continue;
    const fs = await statfs(real).catch(() => undefined);
    disks.push({
      mount: name,
      sizeBytes: fs ? fs.blocks * fs.bsize : null,
      freeBytes: fs ? fs.bavail * fs.bsize : null,
    });
  }
  return disks;
}

function isWithin(file: string, dir: string): boolean {
  return dir === '/' || file === dir || file.startsWith(`${dir}/`);
}

/** The mount points of /proc/self/mounts (Linux); none elsewhere. */
async function mountPoints(): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((m): m is string => m !== undefined && m.startsWith('/'))
    .map((m) =>
      m.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8))),
    );
}

/** Seconds since a process started, from /proc (Linux); null when it cannot be read. */
async function uptimeOf(pid: number): Promise<number | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces: fields are counted after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const startTicks = Number(fields[19]);
    const systemUptime = Number((await readFile('/proc/uptime', 'utf8')).split(' ')[0]);
    if (!Number.isFinite(startTicks) || !Number.isFinite(systemUptime)) return null;
    return Math.max(0, Math.round(systemUptime - startTicks / CLOCK_TICKS));
  } catch {
    return null;
  }
}

/** The configuration snapshot a release runs with: names, and values that are not secret. */
async function configOf(releaseDir: string): Promise<ConfigFacts | null> {
  const snapshot = await readReleaseSnapshot(releaseDir).catch(() => null);
  if (!snapshot) return null;
  const secret = new Set(snapshot.secrets);
  return {
    installId: snapshot.installId,
    deploymentId: snapshot.deploymentId,
    vars: Object.keys(snapshot.vars)
      .sort()
      .slice(0, HOST_FACTS_LIMITS.vars)
      .map((name) => {
        const value = snapshot.vars[name]!;
        return {
          name,
          // Never a secret's value: facts are shown to every token.
          value: secret.has(name)
            ? null
            : value.length > HOST_FACTS_LIMITS.value
              ? `${value.slice(0, HOST_FACTS_LIMITS.value)}…`
              : value,
          secret: secret.has(name),
        };
      }),
  };
}

/** A short health probe of the app's current release: `ok`, `failing`, or null when unknown. */
async function probe(
  stateDir: string,
  app: string,
  current: number | null,
): Promise<'ok' | 'failing' | null> {
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
