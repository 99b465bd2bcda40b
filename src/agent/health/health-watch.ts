import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseDuration } from '../../bundle/manifest-schema.js';
import type { AgentEventBody } from '../../protocol/messages.js';
import { healthFile, type RememberedHealth } from '../install/remembered-health.js';
import { currentVersion } from '../install/release-files.js';
import { readReleaseSnapshot } from '../install/release-snapshot.js';
import { SecretMasker } from '../install/secret-masker.js';
import type { ProcessDriver, ServiceStatus } from '../process/process-driver.js';
import {
  type HealthCheckOptions,
  type HealthCheckSpec,
  healthSpecFrom,
  probeOnce,
} from './health-check.js';

/** What the watch tells the server: the body of a `health` event. */
export type HealthReport = Extract<AgentEventBody, { type: 'health' }>;
type ServiceHealthState = HealthReport['state'];

/** One attempt of a check; `probeOnce` by default (tests inject their own). */
export type HealthProbe = (
  spec: HealthCheckSpec,
  options: HealthCheckOptions,
  timeoutMs: number,
) => Promise<string | null>;

/** Where the watch looks and whom it tells. */
export interface HealthWatchOptions {
  /** The agent's own state per app: the health check each release remembered (see `RememberedHealth`). */
  stateDir: string;
  /** `<root>/apps`: each app's `current` link says which release runs. */
  appsDir: string;
  driver: Pick<ProcessDriver, 'status'>;
  /** Sends one report (the agent wraps it in an envelope and emits it). */
  report(report: HealthReport): void;
  logger: { error(details: object, message: string): void };
  /**
   * Count a new pid of a running service as a restart (supervisord, systemd:
   * their own restarts tell the agent nothing else). The builtin driver says
   * so itself (`noteRestart`), so leave this off for it. Two restarts within
   * one tick count as one.
   */
  restartsFromPids?: boolean;
  /** Milliseconds since the epoch; a test's fake clock. */
  now?: () => number;
  probe?: HealthProbe;
}

/** How long restarts are counted. */
export const RESTART_WINDOW_MS = 60 * 60 * 1000;
/** How much of a failing probe's answer is reported (the event allows 2000). */
export const MAX_ANSWER_CHARS = 500;
/** What the answer of a service the driver says is not running reads. */
export const NOT_RUNNING = 'the process driver says the service is not running';
/** The most a driver's status may take, whatever `every` (a hung `systemctl` must not wedge the watch). */
const STATUS_BUDGET_MS = 10_000;
/** How long past its own timeout a probe may take before the tick gives up on it. */
const PROBE_GRACE_MS = 1000;
/** A tick is never scheduled sooner than this after the last, however short `every`. */
const MIN_EVERY_MS = 50;

/** An app being watched: the release it runs and how to check it. */
interface Watched {
  app: string;
  version: number;
  spec: HealthCheckSpec | null;
  cwd: string;
  env: Record<string, string>;
  everyMs: number;
  /** Hides the release's secret values in a failing answer (a command check may print one). */
  masker: SecretMasker;
  /** What the remembered check was read from: a change restarts the watch. */
  key: string;
  /** The service's pid at the last tick it ran (`restartsFromPids`). */
  lastPid: number | null;
  timer: NodeJS.Timeout | null;
  /** Aborts the tick under way when the watch stops or pauses. */
  ticking: AbortController | null;
}

/** The state last reported for an app. */
interface Reported {
  version: number | null;
  state: ServiceHealthState;
  since: string;
  answer: string | null;
  restarts: number;
}

/**
 * Continuous health: after a release passed its install health check (which
 * remembers the check, see `RememberedHealth`), the agent goes on checking it
 * every `health.every` — one attempt per tick, bounded by the check's timeout
 * and by `every` — and asks the driver whether the service runs. It reports
 * only a change: of state (healthy, failing with the probe's answer, stopped),
 * of release, or of the number of restarts by the driver in the last hour
 * (at most once per tick). An install in progress pauses its app's watch, so
 * that switching releases is not reported as failing. Timers are unref'd and
 * cleared by `close()`; nothing here holds the agent open or throws into it.
 *
 * @example
 *   const watch = new HealthWatch({ stateDir, appsDir, driver, report: emitHealth, logger });
 *   await watch.refresh();         // at start: every app with a remembered check
 *   watch.pause('cart');           // an install of cart begins
 *   await watch.resume('cart');    // it ended: watch what runs now
 *   watch.reportAll();             // after reconnecting
 */
export class HealthWatch {
  private readonly watched = new Map<string, Watched>();
  private readonly reported = new Map<string, Reported>();
  private readonly restarts = new Map<string, number[]>();
  private readonly paused = new Set<string>();
  private readonly now: () => number;
  private readonly probe: HealthProbe;
  private closed = false;

  constructor(private readonly options: HealthWatchOptions) {
    this.now = options.now ?? (() => Date.now());
    this.probe = options.probe ?? probeOnce;
  }

  /**
   * Reads which apps have a remembered check for the release that runs, and
   * watches those (restarting a watch whose release or check changed, stopping
   * one whose app is gone). Only `app` when given. Never rejects.
   */
  async refresh(app?: string): Promise<void> {
    try {
      const apps = app !== undefined ? [app] : await this.rememberedApps();
      if (app === undefined) {
        for (const name of this.watched.keys()) if (!apps.includes(name)) this.unwatch(name);
      }
      for (const name of apps) await this.refreshApp(name);
    } catch (err) {
      this.options.logger.error({ err, app }, 'continuous health: reading what to watch failed');
    }
  }

  /** Stops checking `app` until `resume` (an install of it is under way). */
  pause(app: string): void {
    this.paused.add(app);
    const watched = this.watched.get(app);
    if (watched) this.halt(watched);
  }

  /** Watches `app` again, as it now runs (a new release, or the same one after a failed install). */
  async resume(app: string): Promise<void> {
    this.paused.delete(app);
    const watched = this.watched.get(app);
    // Restarted from its first tick: the install may have changed what runs, whatever the file says.
    if (watched) {
      this.halt(watched);
      this.watched.delete(app);
    }
    await this.refresh(app);
  }

  /** The driver restarted `app`'s service (the builtin driver's `restarted` event). */
  noteRestart(app: string): void {
    const since = this.now() - RESTART_WINDOW_MS;
    const times = (this.restarts.get(app) ?? []).filter((t) => t > since);
    times.push(this.now());
    this.restarts.set(app, times);
  }

  /** Restarts of `app` by the driver in the last hour. */
  restartsOf(app: string): number {
    const since = this.now() - RESTART_WINDOW_MS;
    const times = (this.restarts.get(app) ?? []).filter((t) => t > since);
    this.restarts.set(app, times);
    return times.length;
  }

  /** Reports again the state last reported of every app watched (after a reconnect). */
  reportAll(): void {
    for (const [app, last] of this.reported) {
      if (!this.watched.has(app)) continue;
      this.send(app, last);
    }
  }

  /** Stops every watch; the watch does nothing afterwards. */
  close(): void {
    this.closed = true;
    for (const watched of this.watched.values()) this.halt(watched);
    this.watched.clear();
  }

  private async rememberedApps(): Promise<string[]> {
    const files = await readdir(this.options.stateDir).catch(() => [] as string[]);
    return files
      .filter((f) => f.endsWith('.health.json'))
      .map((f) => f.slice(0, -'.health.json'.length))
      .filter((name) => /^[a-z][a-z0-9-]{0,62}$/.test(name));
  }

  private async refreshApp(app: string): Promise<void> {
    const text = await readFile(healthFile(this.options.stateDir, app), 'utf8').catch(() => null);
    const current = await currentVersion(path.join(this.options.appsDir, app, 'current'));
    if (this.closed) return;
    let remembered: RememberedHealth | null = null;
    try {
      remembered = text === null ? null : (JSON.parse(text) as RememberedHealth);
    } catch {
      remembered = null;
    }
    // Only the release the check was remembered for: another one (a failed
    // install's, switched back by hand) is not known to be checkable so.
    if (!remembered || remembered.version !== current) {
      this.unwatch(app);
      return;
    }
    const existing = this.watched.get(app);
    if (existing?.key === text) return;
    if (existing) this.halt(existing);
    const health = remembered.health;
    // The answer is shown to every token: the release's secrets never in it.
    const snapshot = await readReleaseSnapshot(
      path.join(this.options.appsDir, app, 'releases', String(remembered.version)),
    ).catch(() => null);
    const secrets = (snapshot?.secrets ?? []).flatMap((name) => snapshot?.vars[name] ?? []);
    if (this.closed || this.watched.get(app) !== existing) return;
    const watched: Watched = {
      app,
      version: remembered.version,
      spec: health ? healthSpecFrom(health) : null,
      cwd: remembered.cwd,
      env: remembered.env,
      // A check remembered before `every` existed watches at its default.
      everyMs: Math.max(MIN_EVERY_MS, parseDuration(health?.every ?? '30s')),
      masker: new SecretMasker(secrets),
      key: text ?? '',
      lastPid: null,
      timer: null,
      ticking: null,
    };
    this.watched.set(app, watched);
    if (!this.paused.has(app)) this.schedule(watched, 0);
  }

  private unwatch(app: string): void {
    const watched = this.watched.get(app);
    if (watched) this.halt(watched);
    this.watched.delete(app);
    this.reported.delete(app);
  }

  private halt(watched: Watched): void {
    if (watched.timer) clearTimeout(watched.timer);
    watched.timer = null;
    watched.ticking?.abort();
    watched.ticking = null;
  }

  private schedule(watched: Watched, delayMs: number): void {
    if (this.closed) return;
    watched.timer = setTimeout(() => {
      watched.timer = null;
      this.tick(watched).catch((err: unknown) =>
        this.options.logger.error({ err, app: watched.app }, 'continuous health: a check failed'),
      );
    }, delayMs);
    watched.timer.unref();
  }

  /** One check; the next is scheduled `every` after this one began, unless the watch stopped meanwhile. */
  private async tick(watched: Watched): Promise<void> {
    const began = this.now();
    const ticking = new AbortController();
    watched.ticking = ticking;
    const live = () =>
      !this.closed && !ticking.signal.aborted && this.watched.get(watched.app) === watched;
    try {
      const outcome = await this.check(watched, ticking.signal);
      if (live() && outcome) this.update(watched, outcome.state, outcome.answer);
    } finally {
      if (live()) {
        watched.ticking = null;
        this.schedule(watched, Math.max(MIN_EVERY_MS, watched.everyMs - (this.now() - began)));
      }
    }
  }

  /** The service's state now; null when the driver cannot say (nothing is reported then). */
  private async check(
    watched: Watched,
    signal: AbortSignal,
  ): Promise<{ state: ServiceHealthState; answer: string | null } | null> {
    let status: ServiceStatus;
    try {
      status = await bounded(
        this.options.driver.status(watched.app),
        Math.max(watched.everyMs, STATUS_BUDGET_MS),
      );
    } catch (err) {
      this.options.logger.error(
        { err, app: watched.app },
        'continuous health: the process driver did not say whether the service runs',
      );
      return null;
    }
    if (!status.running) return { state: 'stopped', answer: NOT_RUNNING };
    if (this.options.restartsFromPids && status.pid !== null) {
      // Not across an install: `resume` starts a new watch, with no pid yet.
      if (watched.lastPid !== null && status.pid !== watched.lastPid) this.noteRestart(watched.app);
      watched.lastPid = status.pid;
    }
    if (!watched.spec) return { state: 'healthy', answer: null };
    const timeoutMs = Math.min(watched.spec.timeoutMs, watched.everyMs);
    // The probe bounds itself; this bounds a probe that would not (a tick must end).
    const failure = await bounded(
      this.probe(watched.spec, { cwd: watched.cwd, env: watched.env, signal }, timeoutMs),
      timeoutMs + PROBE_GRACE_MS,
    ).catch(() => `no answer from the health check within ${timeoutMs}ms`);
    if (failure === null) return { state: 'healthy', answer: null };
    return { state: 'failing', answer: clip(watched.masker.mask(failure)) };
  }

  private update(watched: Watched, state: ServiceHealthState, answer: string | null): void {
    const restarts = this.restartsOf(watched.app);
    const last = this.reported.get(watched.app);
    const stateChanged = !last || last.state !== state || last.version !== watched.version;
    if (!stateChanged && last.restarts === restarts) return;
    const next: Reported = {
      version: watched.version,
      state,
      since: stateChanged ? new Date(this.now()).toISOString() : last.since,
      // The answer of the probe that turned it failing stays what the state is about.
      answer: stateChanged ? answer : last.answer,
      restarts,
    };
    this.reported.set(watched.app, next);
    this.send(watched.app, next);
  }

  /**
   * What the watch last found of an app's release `version`: `healthy`,
   * `failing` or `stopped`; undefined when it has not checked that release
   * (not watched, paused, or no tick yet). The facts report reads it instead
   * of probing the service a second time.
   */
  stateOf(app: string, version: number): ServiceHealthState | undefined {
    const last = this.reported.get(app);
    const watched = this.watched.get(app);
    if (!last || !watched || this.paused.has(app)) return undefined;
    return last.version === version && watched.version === version ? last.state : undefined;
  }

  private send(app: string, state: Reported): void {
    try {
      this.options.report({
        type: 'health',
        app,
        version: state.version,
        state: state.state,
        since: state.since,
        answer: state.answer,
        restarts: this.restartsOf(app),
        at: new Date(this.now()).toISOString(),
      });
    } catch (err) {
      this.options.logger.error({ err, app }, 'continuous health: sending a report failed');
    }
  }
}

function clip(answer: string): string {
  return answer.length <= MAX_ANSWER_CHARS ? answer : `${answer.slice(0, MAX_ANSWER_CHARS - 1)}…`;
}

/** `promise`, or a rejection after `ms`. */
function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms}ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
