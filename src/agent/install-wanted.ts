import { setTimeout as sleep } from 'node:timers/promises';
import { AgentClient } from '../client/agent-client.js';
import { ApiError, type FerryClientOptions } from '../client/route-client.js';
import type { InstallWanted } from '../protocol/deployment-api.js';
import { FerryError, isErrorCode } from '../protocol/errors.js';
import { WantedRefusal } from '../transport/transport.js';
import { FinalJobError } from '../transport/unhandled-job.js';
import type { AgentIdentity } from './agent-identity.js';
import { deadlineSignal } from './deadline-signal.js';

/** How the agent asks: each try's timeout, how many tries, and the first pause between them. */
export interface AskWantedOptions {
  /** How long one try waits for the server's answer (15 s). */
  timeoutMs?: number;
  /** Tries before giving up (5). */
  attempts?: number;
  /** The first pause between tries, doubled at each (500 ms), with jitter. */
  initialDelayMs?: number;
  /** Stops trying (the agent is stopping). */
  signal?: AbortSignal;
  /** Told of each failed try that will be tried again. */
  onRetry?: (err: FerryError, attempt: number, delayMs: number) => void;
  /**
   * Asks on the transport's open connection (`AgentTransport.askWanted`)
   * instead of a new HTTPS call, when it can (it returns undefined when not).
   */
  onConnection?: (installId: string, signal: AbortSignal) => Promise<InstallWanted> | undefined;
}

/**
 * Asks the server whether it still wants an install the agent has not started:
 * a job may wait in the host's queue while the server moves on (it skipped the
 * host as offline, or the deployment was cancelled). An install the server does
 * not know for this host is not wanted.
 *
 * A try that times out, cannot connect or gets a 5xx or 429 is tried again after
 * a pause that doubles each time, with jitter, so that a fleet of agents asking
 * a busy server at once spreads out instead of asking again together. After the
 * last try it throws, and the job is delivered again by the transport. Any other
 * answer (a 4xx, or a body this agent cannot read) will not change by asking
 * again: it throws a `FinalJobError`, and the transport ends the job as failed.
 */
export async function askWanted(
  identity: Pick<AgentIdentity, 'server' | 'token'> & { clientOptions?: FerryClientOptions },
  installId: string,
  options: AskWantedOptions = {},
): Promise<InstallWanted> {
  const attempts = options.attempts ?? 5;
  let delay = options.initialDelayMs ?? 500;
  // After a try on the connection gets no answer, the next ones go over HTTPS:
  // a connection whose traffic is silently dropped stays open until TCP gives
  // up (minutes), and one busy with this host's backlog answers late.
  let onConnection = options.onConnection;
  for (let attempt = 1; ; attempt++) {
    try {
      return await askOnce(
        identity,
        installId,
        options.timeoutMs ?? 15_000,
        options.signal,
        onConnection,
      );
    } catch (err) {
      if (err instanceof RetryableError && err.onConnection) onConnection = undefined;
      if (!(err instanceof RetryableError) || attempt >= attempts || options.signal?.aborted) {
        throw err instanceof RetryableError ? err.error : err;
      }
      const pause = delay / 2 + Math.random() * delay;
      options.onRetry?.(err.error, attempt, Math.round(pause));
      await sleep(pause, undefined, { signal: options.signal }).catch(() => undefined);
      if (options.signal?.aborted) throw err.error;
      delay *= 2;
    }
  }
}

/** A failure worth trying again: the server was slow, unreachable or overloaded. */
class RetryableError extends Error {
  constructor(
    readonly error: FerryError,
    /** Asked on the agent's connection (not over HTTPS). */
    readonly onConnection = false,
  ) {
    super(error.message);
  }
}

async function askOnce(
  identity: Pick<AgentIdentity, 'server' | 'token'> & { clientOptions?: FerryClientOptions },
  installId: string,
  timeoutMs: number,
  stop: AbortSignal | undefined,
  onConnection: AskWantedOptions['onConnection'],
): Promise<InstallWanted> {
  // The body can be slow too: the whole call is under the one deadline.
  const deadline = deadlineSignal(timeoutMs, stop);
  try {
    return await askOnceWithin(identity, installId, timeoutMs, stop, onConnection, deadline.signal);
  } finally {
    deadline.clear();
  }
}

async function askOnceWithin(
  identity: Pick<AgentIdentity, 'server' | 'token'> & { clientOptions?: FerryClientOptions },
  installId: string,
  timeoutMs: number,
  stop: AbortSignal | undefined,
  onConnection: AskWantedOptions['onConnection'],
  signal: AbortSignal,
): Promise<InstallWanted> {
  const onItsConnection = onConnection?.(installId, signal);
  if (onItsConnection) {
    try {
      return await onItsConnection;
    } catch (err) {
      if (err instanceof WantedRefusal) return refused(installId, err.httpStatus, err.code, err);
      const why =
        signal.aborted && !stop?.aborted ? `no answer in ${timeoutMs} ms` : (err as Error).message;
      throw new RetryableError(
        new FerryError(
          'E_SERVER_UNREACHABLE',
          `Cannot ask the Ferry server at ${identity.server} about install ${installId} on the agent's connection (${why})`,
        ),
        true,
      );
    }
  }
  const client = new AgentClient(identity.server, identity.token, identity.clientOptions);
  try {
    return await client.call('installWanted', { params: { id: installId } }, { signal });
  } catch (err) {
    if (!(err instanceof ApiError)) {
      const why =
        signal.aborted && !stop?.aborted
          ? `no answer in ${timeoutMs} ms`
          : err instanceof FerryError
            ? err.message
            : (err as Error).message;
      throw new RetryableError(
        new FerryError(
          'E_SERVER_UNREACHABLE',
          `Cannot ask the Ferry server at ${identity.server} about install ${installId} (${why})`,
        ),
      );
    }
    if (err.details?.notUnderstood === true) {
      throw new FinalJobError(
        `The server's answer about install ${installId} is not one this agent can read: ${err.message}`,
      );
    }
    return refused(installId, err.httpStatus, err.code, err);
  }
}

/**
 * The server's error answer, asked over HTTP or on the connection: no such
 * install is a "no"; a 5xx or 429 is asked again; anything else will not
 * change by asking again.
 */
function refused(installId: string, httpStatus: number, code: string, err: Error): InstallWanted {
  if (httpStatus === 404 && code === 'E_INSTALL_NOT_FOUND') {
    return { proceed: false, reason: 'the server has no such install for this host' };
  }
  const error = new FerryError(
    isErrorCode(code) ? code : 'E_INTERNAL',
    `The server did not say whether install ${installId} is wanted: ${err.message}`,
  );
  if (httpStatus >= 500 || httpStatus === 429) throw new RetryableError(error);
  throw new FinalJobError(`${error.code}: ${error.message}`, { cause: error });
}
