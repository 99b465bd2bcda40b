import { spawn } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppManifest } from '../../bundle/manifest-schema.js';
import { parseDuration } from '../../bundle/manifest-schema.js';
import { FerryError } from '../../protocol/errors.js';
import { deadlineSignal } from '../deadline-signal.js';

/**
 * The health check the install pipeline runs after starting a release: try one
 * probe (HTTP, TCP or a command) again and again until it passes or the budget is
 * spent. A failed check is an outcome, not an error: it comes back as `ok: false`
 * with the reason of the last failure, which the install report shows.
 */

/** A health check with its variables filled in and its durations in milliseconds. */
export interface HealthCheckSpec {
  /** Exactly one of `http`, `tcp` and `command`, as in the manifest. */
  http?: string;
  /** `host:port` or `tcp://host:port`; IPv6 hosts in brackets (`[::1]:8080`). */
  tcp?: string;
  /** Run by `/bin/sh -c`; passes when it exits with code 0. */
  command?: string;
  /** The status an `http` check expects. */
  expectStatus: number;
  /** Text the body of an `http` answer must contain. */
  contains?: string;
  /** Overall budget: attempts go on until this much time has passed. */
  timeoutMs: number;
  /**
   * The pause between attempts once the check's first seconds are over;
   * before, pauses are shorter (see `retryPause`).
   */
  intervalMs: number;
}

/** How a health check ended. */
export interface HealthCheckResult {
  ok: boolean;
  attempts: number;
  elapsedMs: number;
  /**
   * Why the last attempt failed (the report shows it), e.g. `HTTP 503 from http://…`,
   * `connect ECONNREFUSED 127.0.0.1:8080`, `body does not contain "ok"`,
   * `exit code 1: <stderr tail>`. Null when the check passed at once.
   */
  lastFailure: string | null;
}

/** What a command check runs with. */
export interface HealthCheckOptions {
  /** Working folder of a `command` check: the release. */
  cwd: string;
  /** The complete environment of a `command` check; nothing is inherited from the agent. */
  env: Record<string, string>;
  /** Stops the check early; it then ends with `ok: false`. */
  signal?: AbortSignal;
}

/** The manifest's `health` section, defaults filled in. */
export type HealthSection = NonNullable<AppManifest['health']>;

/** One attempt: resolves to null when healthy, or to the reason it is not. Never rejects. */
type Probe = (signal: AbortSignal, timeoutMs: number) => Promise<string | null>;

/** A single attempt never waits less than this, so a short interval does not fail a slow-but-healthy service. */
const MIN_ATTEMPT_MS = 1000;
/** An attempt with less time than this left in the budget is not worth starting. */
const MIN_LAST_ATTEMPT_MS = 10;
/**
 * The pause after a release's first failed attempt: the app is usually a few
 * milliseconds from listening, and waiting a whole interval (1 s by default)
 * would add most of it to every install and rollback.
 */
export const FIRST_RETRY_MS = 25;
/** In the check's first `QUICK_WINDOW_MS`, pauses stay at most this long (when the interval is longer). */
export const QUICK_RETRY_MAX_MS = 100;
/** How long after its start a check keeps retrying quickly: most apps listen within it. */
export const QUICK_WINDOW_MS = 5_000;
/** How much of a command's output the failure message keeps. */
const OUTPUT_TAIL_CHARS = 400;
/** How much of a failing HTTP answer's body one attempt of continuous health keeps. */
const ANSWER_BODY_CHARS = 200;
/** How much of an HTTP body is searched for `contains`. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Converts the manifest's health section (durations as text) into a spec.
 *
 * @example
 *   healthSpecFrom({ http: 'http://127.0.0.1:8080/health', expectStatus: 200, timeout: '30s', interval: '1s' })
 *   // → { http: 'http://127.0.0.1:8080/health', expectStatus: 200, timeoutMs: 30000, intervalMs: 1000 }
 */
export function healthSpecFrom(section: HealthSection): HealthCheckSpec {
  const spec: HealthCheckSpec = {
    expectStatus: section.expectStatus,
    timeoutMs: parseDuration(section.timeout),
    intervalMs: parseDuration(section.interval),
  };
  if (section.http !== undefined) spec.http = section.http;
  if (section.tcp !== undefined) spec.tcp = section.tcp;
  if (section.command !== undefined) spec.command = section.command;
  if (section.contains !== undefined) spec.contains = section.contains;
  return spec;
}

/**
 * The pause after failed attempt `attempt` (1 for the first), `elapsedMs`
 * into the check: `FIRST_RETRY_MS`, doubling, at most `QUICK_RETRY_MAX_MS` in
 * the first `QUICK_WINDOW_MS` — 25, 50, 100, 100, … ms — then `intervalMs`.
 * An app that listens within those seconds is seen within ~100 ms of it; one
 * still starting after them is probed every interval, as the manifest says.
 * No pause is ever longer than `intervalMs`.
 *
 * @example
 *   retryPause(1, 1000, 0); // → 25
 *   retryPause(5, 1000, 300); // → 100
 *   retryPause(60, 1000, 6000); // → 1000
 */
export function retryPause(attempt: number, intervalMs: number, elapsedMs: number): number {
  if (elapsedMs >= QUICK_WINDOW_MS) return intervalMs;
  const doubled = FIRST_RETRY_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 30);
  return Math.min(doubled, QUICK_RETRY_MAX_MS, intervalMs);
}

/**
 * Tries the check until it passes, `spec.timeoutMs` has passed, or `options.signal`
 * aborts. The first attempt is made at once, the next ones after `retryPause`:
 * soon at first, then every `spec.intervalMs`. Every attempt counts in
 * `attempts`, and the budget is the same `timeoutMs` whatever the pauses. Each attempt has its own timeout (five intervals, at least a second, never
 * past the overall budget), so a server that accepts and never answers cannot eat
 * the whole budget in one attempt. Throws a FerryError (`E_MANIFEST_INVALID`) only
 * for a malformed spec; a failing check resolves with `ok: false`.
 *
 * @example
 *   const result = await waitHealthy(healthSpecFrom(manifest.health), { cwd: release, env });
 *   if (!result.ok) report(`health check failed after ${result.attempts} attempts: ${result.lastFailure}`);
 */
export async function waitHealthy(
  spec: HealthCheckSpec,
  options: HealthCheckOptions,
): Promise<HealthCheckResult> {
  const probe = probeFor(spec, options);
  const started = performance.now();
  const deadline = started + spec.timeoutMs;
  const outer = options.signal;
  let attempts = 0;
  let lastFailure: string | null = null;
  const result = (ok: boolean): HealthCheckResult => ({
    ok,
    attempts,
    elapsedMs: Math.round(performance.now() - started),
    lastFailure,
  });
  const aborted = (): HealthCheckResult => {
    lastFailure = lastFailure === null ? 'aborted' : `aborted; before that: ${lastFailure}`;
    return result(false);
  };

  const fullAttemptMs = Math.max(spec.intervalMs * 5, MIN_ATTEMPT_MS);
  // At least one attempt, even with a zero budget.
  for (;;) {
    if (outer?.aborted) return aborted();
    const attemptMs = Math.max(
      1,
      Math.round(Math.min(fullAttemptMs, deadline - performance.now())),
    );
    const attemptTimeout = AbortSignal.timeout(attemptMs);
    const attemptSignal = outer ? AbortSignal.any([outer, attemptTimeout]) : attemptTimeout;
    attempts += 1;
    const failure = await probe(attemptSignal, attemptMs);
    if (outer?.aborted) return aborted();
    if (failure === null) return result(true);
    // An attempt cut short by the end of the budget says less than a real answer
    // before it ("no answer within 3ms" would hide "HTTP 503"): keep the latter.
    const truncated = attemptTimeout.aborted && attemptMs < fullAttemptMs;
    if (!(truncated && lastFailure !== null)) lastFailure = failure;

    const left = deadline - performance.now();
    if (left < MIN_LAST_ATTEMPT_MS) return result(false);
    try {
      await sleep(
        Math.min(retryPause(attempts, spec.intervalMs, performance.now() - started), left),
        undefined,
        outer ? { signal: outer } : {},
      );
    } catch {
      // Only an abort rejects the pause; the loop's head reports it.
    }
    if (deadline - performance.now() < MIN_LAST_ATTEMPT_MS && !outer?.aborted) {
      return result(false);
    }
  }
}

/**
 * One attempt of the check, bounded by `timeoutMs` (and `options.signal`):
 * resolves to null when healthy, or to the reason it is not. Continuous health
 * makes one such attempt per tick. Throws a FerryError (`E_MANIFEST_INVALID`)
 * only for a malformed spec.
 *
 * @example
 *   const failure = await probeOnce(spec, { cwd, env }, 5000); // 'HTTP 500 from http://…, expected 200'
 */
export async function probeOnce(
  spec: HealthCheckSpec,
  options: HealthCheckOptions,
  timeoutMs: number,
): Promise<string | null> {
  // The body's start tells a person more than the status alone ("database down").
  const probe = probeFor(spec, options, { bodyChars: ANSWER_BODY_CHARS });
  const bounded = Math.max(1, Math.round(timeoutMs));
  const deadline = deadlineSignal(bounded, options.signal);
  try {
    return await probe(deadline.signal, bounded);
  } finally {
    deadline.clear();
  }
}

function probeFor(
  spec: HealthCheckSpec,
  options: HealthCheckOptions,
  answer: { bodyChars: number } = { bodyChars: 0 },
): Probe {
  const kinds = (['http', 'tcp', 'command'] as const).filter((k) => spec[k] !== undefined);
  if (kinds.length !== 1) {
    throw malformed(
      `a health check takes exactly one of http, tcp or command, found ${kinds.length === 0 ? 'none' : kinds.join(' and ')}`,
      { kinds },
    );
  }
  if (spec.http !== undefined)
    return httpProbe(spec.http, spec.expectStatus, spec.contains, answer.bodyChars);
  if (spec.tcp !== undefined) return tcpProbe(spec.tcp);
  return commandProbe(spec.command ?? '', options);
}

function malformed(message: string, details: Record<string, unknown>): FerryError {
  return new FerryError('E_MANIFEST_INVALID', message, { section: 'health', ...details });
}

function httpProbe(
  url: string,
  expectStatus: number,
  contains: string | undefined,
  bodyChars: number,
): Probe {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw malformed(`health.http is not a URL: ${url}`, { key: 'health.http', value: url });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw malformed(`health.http must be an http:// or https:// URL: ${url}`, {
      key: 'health.http',
      value: url,
    });
  }
  return async (signal, timeoutMs) => {
    try {
      // A redirect is the answer, not a hop: a health endpoint that redirects to a
      // login page must not pass because the login page says 200. (node:http,
      // not fetch: fetch loads undici, +8 MiB for as long as the agent runs.)
      const answer = await get(parsed, signal);
      const status = answer.statusCode ?? 0;
      if (status !== expectStatus) {
        const location = answer.headers.location;
        const failure = `HTTP ${status} from ${url}${location ? ` (to ${location})` : ''}, expected ${expectStatus}`;
        if (bodyChars === 0) {
          answer.destroy();
          return failure;
        }
        const body = (await readBody(answer, bodyChars * 4)).replace(/\s+/g, ' ').trim();
        if (body === '') return failure;
        return `${failure}: ${JSON.stringify(body.length > bodyChars ? `${body.slice(0, bodyChars)}…` : body)}`;
      }
      if (contains === undefined) {
        answer.destroy();
        return null;
      }
      const body = await readBody(answer);
      if (body.includes(contains)) return null;
      return `body does not contain ${JSON.stringify(contains)} (HTTP ${status} from ${url}: ${JSON.stringify(tail(body, 120))})`;
    } catch (error) {
      if (signal.aborted) return `no answer from ${url} within ${timeoutMs}ms`;
      return describeError(error);
    }
  };
}

/**
 * One GET of a health URL on its own connection, answered with the response
 * unread; a redirect is not followed. HTTPS verifies the certificate against
 * the system's store, as `fetch` did.
 */
function get(url: URL, signal: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    client.get(url, { signal, agent: false, headers: PROBE_HEADERS }, resolve).on('error', reject);
  });
}

/**
 * What a probe says of itself: as `fetch` did, it takes any type, and it names
 * itself (a proxy or firewall rule may refuse a request without a User-Agent).
 * Unlike `fetch` it does not inflate a body, so it asks for none compressed:
 * `contains` is looked for in the text the app sent.
 */
const PROBE_HEADERS = {
  accept: '*/*',
  'user-agent': 'ferry-agent-health',
  'accept-encoding': 'identity',
};

/** The body as text, at most `maxBytes` of it (about: whole chunks are read); the rest is not read. */
async function readBody(answer: http.IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for await (const chunk of answer as AsyncIterable<Buffer>) {
    bytes += chunk.byteLength;
    text += decoder.decode(chunk, { stream: true });
    // Leaving the loop destroys the answer and its connection.
    if (bytes >= maxBytes) break;
  }
  return text + decoder.decode();
}

const TCP_ADDRESS = /^(?:tcp:\/\/)?(\[[0-9a-fA-F:.]+\]|[^\s:/[\]@]+):(\d{1,5})$/;

/** Splits `host:port` or `tcp://host:port`; throws a FerryError for anything else. */
export function parseTcpAddress(address: string): { host: string; port: number } {
  const match = TCP_ADDRESS.exec(address);
  const port = Number(match?.[2]);
  if (!match || !(port >= 1 && port <= 65535)) {
    throw malformed(`health.tcp must be host:port (or tcp://host:port), got ${address}`, {
      key: 'health.tcp',
      value: address,
    });
  }
  const host = match[1] ?? '';
  return { host: host.startsWith('[') ? host.slice(1, -1) : host, port };
}

function tcpProbe(address: string): Probe {
  const { host, port } = parseTcpAddress(address);
  return (signal, timeoutMs) =>
    new Promise((resolve) => {
      const socket = net.connect({ host, port });
      const finish = (failure: string | null): void => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        resolve(failure);
      };
      const onAbort = (): void => finish(`no connection to ${address} within ${timeoutMs}ms`);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => finish(null));
      socket.once('error', (error) => finish(describeError(error)));
    });
}

function commandProbe(command: string, options: HealthCheckOptions): Probe {
  return (signal, timeoutMs) =>
    new Promise((resolve) => {
      // Its own process group, so that a timeout kills what the shell started too;
      // otherwise `sleep` would keep the pipes open after the shell is gone.
      const child = spawn('/bin/sh', ['-c', command], {
        cwd: options.cwd,
        env: options.env,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      let settled = false;
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on(
        'data',
        (chunk: string) => (stdout = tail(stdout + chunk, OUTPUT_TAIL_CHARS)),
      );
      child.stderr.on(
        'data',
        (chunk: string) => (stderr = tail(stderr + chunk, OUTPUT_TAIL_CHARS)),
      );

      const killGroup = (): void => {
        if (child.pid === undefined) return;
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // The group is already gone.
        }
      };
      const finish = (failure: string | null): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        clearTimeout(grace);
        resolve(failure);
      };
      const onAbort = (): void => {
        killGroup();
        finish(`no result from the command within ${timeoutMs}ms (killed)`);
      };
      let grace: NodeJS.Timeout | undefined;

      child.once('error', (error) =>
        finish(`cannot run the command in ${options.cwd}: ${describeError(error)}`),
      );
      child.once('exit', (code, exitSignal) => {
        if (settled) return;
        // Whatever the command left behind in its group goes with it; the last
        // output arrives on 'close', which a stray holder of the pipes could delay.
        killGroup();
        const outcome = (): string | null => {
          if (code === 0) return null;
          const status =
            code === null ? `killed by ${exitSignal ?? 'a signal'}` : `exit code ${code}`;
          const output = (stderr.trim() || stdout.trim()).replace(/\s+/g, ' ');
          return output ? `${status}: ${output}` : status;
        };
        grace = setTimeout(() => finish(outcome()), 200);
        child.once('close', () => finish(outcome()));
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
}

/** The most telling message of an error, looking through `cause` and AggregateError. */
function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return [...new Set(error.errors.map(describeError))].join('; ');
  }
  if (error instanceof Error) {
    // An error wrapping another (fetch's 'fetch failed') keeps the reason in `cause`.
    if (error.cause !== undefined) return describeError(error.cause);
    return error.message || error.name;
  }
  return String(error);
}

function tail(text: string, chars: number): string {
  return text.length <= chars ? text : text.slice(text.length - chars);
}
