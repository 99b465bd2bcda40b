import { readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { type HealthCheckSpec, parseTcpAddress } from '../../health/health-check.js';
import { holdsSocket, listeningSockets, socketHolders } from '../../health/port-holders.js';
import { childrenOf, groupMembers, readProcStat } from '../../process/builtin/proc-stat.js';
import type { InstallContext } from './install-step.js';

/** What the health step found out about the process that answered its check. */
export interface Answerer {
  /** A line for the step's output: who holds the port; null when it cannot be told. */
  note: string | null;
  /** Set when another release of the app answered: the check said nothing of the one started. */
  failure: string | null;
}

const UNKNOWN: Answerer = { note: null, failure: null };

/**
 * After a passing HTTP or TCP check on this host, looks at which process holds
 * the port it probed. A check passes on whatever answers there: a process of
 * an earlier release that outlived its stop (a child that left the service's
 * process group, say) keeps the port, the release just started cannot bind it
 * and dies, and the check passes on the old one — an install that succeeded
 * with the old release serving. That case is a failure, naming the process;
 * any other holder that is not the service's (a proxy in front of it) is only
 * noted. Linux only (it reads /proc); elsewhere, and for a check of another
 * host or a command, it says nothing.
 *
 * @example
 *   const answerer = await whoAnswered(ctx, spec, 3);
 *   if (answerer.failure) throw new StepFailure(`health check failed: ${answerer.failure}`);
 */
export async function whoAnswered(
  ctx: InstallContext,
  spec: HealthCheckSpec,
  version: number,
): Promise<Answerer> {
  const port = localPort(spec);
  if (port === null) return UNKNOWN;
  const sockets = await listeningSockets(port);
  if (sockets === null || sockets.size === 0) return UNKNOWN;
  for await (const pid of serviceProcesses(ctx)) {
    if (await holdsSocket(pid, sockets)) {
      return { note: `port ${port}: held by the service (pid ${pid})`, failure: null };
    }
  }
  const holders = await socketHolders(sockets);
  if (holders.length === 0) return UNKNOWN;
  const releases = await realpath(ctx.paths.releasesDir).catch(() => ctx.paths.releasesDir);
  for (const pid of holders) {
    const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (!cwd.startsWith(`${releases}${path.sep}`)) continue;
    const release = cwd.slice(releases.length + 1).split(path.sep)[0];
    if (release === String(version)) continue;
    return {
      note: null,
      failure:
        `port ${port} is held by pid ${pid}, which runs releases/${release} of ${ctx.job.app}, ` +
        `not by the service of releases/${version}: an earlier release outlived its stop and answered`,
    };
  }
  return {
    note: `port ${port}: held by pid ${holders.join(', ')}, not one of the service's processes`,
    failure: null,
  };
}

/** The port of an `http` or `tcp` check of this host; null for a command or another host. */
function localPort(spec: HealthCheckSpec): number | null {
  let host: string;
  let port: number;
  if (spec.http !== undefined) {
    const url = new URL(spec.http);
    host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
  } else if (spec.tcp !== undefined) {
    ({ host, port } = parseTcpAddress(spec.tcp));
  } else {
    return null;
  }
  const local =
    host === 'localhost' ||
    host.startsWith('127.') ||
    host === '::1' ||
    host === '0.0.0.0' ||
    host === '::';
  return local ? port : null;
}

/**
 * The processes of the app's service now: its main process, then its
 * descendants in its process group (a shell's child: the builtin driver runs
 * the command through `sh -c`), then the rest of its group, as the driver
 * knows it. The whole group is looked up (a read of every process's
 * `/proc/<pid>/stat`) only when none of the first holds the port, which is
 * seldom.
 */
async function* serviceProcesses(ctx: InstallContext): AsyncGenerator<number> {
  const { pid } = await ctx.host.driver.status(ctx.job.app).catch(() => ({ pid: null }));
  if (pid === null) return;
  yield pid;
  const group = readProcStat(pid)?.pgrp;
  if (group === undefined) return;
  const seen = new Set([pid]);
  const queue = childrenOf(pid);
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    if (seen.has(next) || readProcStat(next)?.pgrp !== group) continue;
    seen.add(next);
    yield next;
    queue.push(...childrenOf(next));
  }
  for (const member of groupMembers(group)) if (!seen.has(member)) yield member;
}
