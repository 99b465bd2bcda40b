import type { EnvironmentStatus, HostStatus } from '../../protocol/deployment-api.js';
import { isOpenInstall } from '../../protocol/lifecycle.js';

/**
 * Where one host of an environment stands for one app, as the overview shows
 * it: on the desired release and healthy (`ok`), still on another one
 * (`behind`), its last install or health check failed (`failed`), its agent
 * not connected (`away`), or an install under way (`deploying`).
 */
export const HOST_STATES = ['ok', 'deploying', 'failed', 'behind', 'away'] as const;
export type HostState = (typeof HOST_STATES)[number];

/**
 * A host's state, from what `status` says of it. Away wins (whatever it last
 * said may be stale), then an install under way, then a failure, then the
 * version against the desired one.
 *
 * @example
 *   hostState({ host: 'qa-1', connected: true, version: 12, health: 'ok', lastInstall: null }, 13)
 *   // 'behind'
 */
export function hostState(host: HostStatus, desiredVersion: number | null): HostState {
  if (!host.connected) return 'away';
  if (host.lastInstall && isOpenInstall(host.lastInstall.state)) return 'deploying';
  if (
    host.lastInstall?.state === 'failed' ||
    host.health === 'failing' ||
    (host.service !== null && host.service !== undefined && host.service.state !== 'healthy')
  )
    return 'failed';
  if (desiredVersion !== null && host.version !== desiredVersion) return 'behind';
  return 'ok';
}

/** How many hosts of an environment are in each state. */
export type HostCounts = Record<HostState, number>;

/** Counts an environment's hosts by state. */
export function countHostStates(env: EnvironmentStatus): HostCounts {
  const counts: HostCounts = { ok: 0, deploying: 0, failed: 0, behind: 0, away: 0 };
  const desired = env.desired?.version ?? null;
  for (const host of env.hosts) counts[hostState(host, desired)] += 1;
  return counts;
}

/**
 * Counts in words, the states with hosts only, the worst last so the eye
 * lands on it: "148 ok · 1 failed · 1 away"; "no hosts" for none.
 */
export function describeCounts(counts: HostCounts): string {
  const parts = HOST_STATES.filter((state) => counts[state] > 0).map(
    (state) => `${counts[state]} ${state}`,
  );
  return parts.length === 0 ? 'no hosts' : parts.join(' · ');
}

/** A host's state in one line, for its cell's title: "qa-3: failed — runs v12, desired v13". */
export function describeHost(host: HostStatus, desiredVersion: number | null): string {
  const state = hostState(host, desiredVersion);
  const runs = host.version === null ? 'runs nothing yet' : `runs v${host.version}`;
  const desired = desiredVersion === null ? '' : `, desired v${desiredVersion}`;
  const health = host.service
    ? `, ${serviceHealthText(host.service)}`
    : host.health === 'failing'
      ? ', health check failing'
      : '';
  const install =
    host.lastInstall && host.lastInstall.state !== 'succeeded'
      ? `, last install v${host.lastInstall.version} ${host.lastInstall.state}`
      : '';
  return `${host.host}: ${state} — ${runs}${desired}${health}${install}`;
}

/**
 * A service's continuous health in words: "failing since 14:02 UTC (3 restarts
 * in the last hour)"; the date too when not today.
 *
 * @example
 *   serviceHealthText({ state: 'healthy', since: '2026-12-06T14:02:00Z', restarts: 0, … }) // 'healthy since 14:02 UTC'
 */
export function serviceHealthText(
  service: NonNullable<HostStatus['service']>,
  now = new Date(),
): string {
  const today = service.since.slice(0, 10) === now.toISOString().slice(0, 10);
  const at = `${today ? '' : `${service.since.slice(0, 10)} `}${service.since.slice(11, 16)} UTC`;
  const restarts =
    service.restarts === 0
      ? ''
      : ` (${service.restarts} restart${service.restarts === 1 ? '' : 's'} in the last hour)`;
  return `${service.state} since ${at}${restarts}`;
}
