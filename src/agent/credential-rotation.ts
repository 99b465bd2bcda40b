import { AgentClient } from '../client/agent-client.js';
import { ApiError, type FerryClientOptions } from '../client/route-client.js';
import { FerryError } from '../protocol/errors.js';
import type { AgentTransport, TransportLogger } from '../transport/transport.js';
import { type AgentIdentity, updateIdentity } from './agent-identity.js';

/** The longest delay `setTimeout` takes (about 24.8 days); a later rotation is waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Answers that asking again will not change: the credential is gone for good. */
const FINAL_CODES = new Set(['E_CREDENTIAL_EXPIRED', 'E_AUTH_INVALID']);

export interface CredentialRotationOptions {
  /** The agent's root: the identity is kept in `<root>/agent/identity.json`. */
  root: string;
  /** The identity every part of the agent reads its token from: changed in place. */
  identity: AgentIdentity;
  logger: TransportLogger;
  /** How the agent's calls reach the server (a pinned CA, say), as for its other calls. */
  clientOptions?: FerryClientOptions;
  /** How long a rotation that failed (the server away) waits before it is tried again (60 s). */
  retryMs?: number;
}

/**
 * Keeps the host's own credential alive: rotates it when the server said to
 * (`rotateAt`, a third of its life before it expires by default), and again
 * after a pause when that fails. Each rotation is: ask the server for a
 * successor with the current credential; write the identity with it,
 * atomically; switch the agent's calls and connection to it; confirm it. A
 * crash before the write leaves the old credential, which counts on for the
 * server's grace (and asking again replaces the successor never kept); a crash
 * after it leaves the new one, whose first use confirms it.
 *
 * @example
 *   const rotation = new CredentialRotation({ root, identity, logger });
 *   await rotation.rotateIfDue(); // before connecting: an expired credential throws
 *   rotation.start(transport);
 */
export class CredentialRotation {
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private rotating: Promise<void> | undefined;
  /** Told of each new credential, so that its connection stays open; set by `start`. */
  private transport: Pick<AgentTransport, 'useCredential'> | undefined;

  constructor(private readonly options: CredentialRotationOptions) {}

  /**
   * At start, before connecting: rotates now if it is due (or the identity
   * predates expiring credentials). A credential the server no longer takes
   * throws, with the server's code and how to re-enrol; the server being away
   * is logged, and tried again once started.
   */
  async rotateIfDue(): Promise<void> {
    if (this.dueInMs() > 0) return;
    try {
      await this.rotate();
    } catch (err) {
      if (err instanceof FerryError && FINAL_CODES.has(err.code)) throw err;
      this.options.logger.warn(
        { err: (err as Error).message },
        'rotating the host credential failed; trying again later',
      );
    }
  }

  /**
   * Rotates at `rotateAt`, and keeps doing so, telling `transport` of each new
   * credential. A rotation that failed at start (`rotateIfDue`) is tried again
   * after the usual pause.
   */
  start(transport: Pick<AgentTransport, 'useCredential'>): void {
    this.transport = transport;
    this.schedule(this.dueInMs() > 0 ? this.dueInMs() : this.retryMs());
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Rotates now (one rotation at a time). */
  rotate(): Promise<void> {
    this.rotating ??= this.rotateOnce().finally(() => (this.rotating = undefined));
    return this.rotating;
  }

  private async rotateOnce(): Promise<void> {
    const { identity, root, logger } = this.options;
    let rotated;
    try {
      rotated = await this.client(identity.token).call('rotateCredential');
    } catch (err) {
      if (err instanceof ApiError && FINAL_CODES.has(err.code)) {
        throw new FerryError(err.code, `The host credential cannot be rotated: ${err.message}`);
      }
      throw err;
    }
    const { token, ...credential } = rotated;
    // Kept before it is used: whatever happens next, the agent starts again with
    // it. Queued with every other change to identity.json, so none is lost.
    const kept = await updateIdentity(root, (id) => {
      id.token = token;
      id.credential = credential;
    });
    Object.assign(identity, kept);
    await this.transport?.useCredential?.(token);
    try {
      await this.client(token).call('confirmCredential');
    } catch (err) {
      // Its next use confirms it as well: the old one's grace covers the meantime.
      logger.warn(
        { err: (err as Error).message },
        'confirming the new host credential failed; its next use confirms it',
      );
    }
    logger.info(
      { expiresAt: credential.expiresAt, rotateAt: credential.rotateAt },
      'host credential rotated',
    );
  }

  private client(token: string): AgentClient {
    return new AgentClient(this.options.identity.server, token, this.options.clientOptions);
  }

  /** Milliseconds until the rotation is due: 0 when it is (or no time was ever given). */
  private dueInMs(): number {
    const rotateAt = this.options.identity.credential?.rotateAt;
    if (rotateAt === undefined) return 0;
    return Math.max(0, Date.parse(rotateAt) - Date.now());
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        if (this.dueInMs() > 0) {
          // A long wait, in steps.
          this.schedule(this.dueInMs());
          return;
        }
        this.rotate().then(
          () => this.schedule(this.dueInMs()),
          (err: unknown) => {
            const final = err instanceof FerryError && FINAL_CODES.has(err.code);
            const details = {
              err: (err as Error).message,
              ...(final ? {} : { retryInMs: this.retryMs() }),
            };
            if (err instanceof FerryError && err.code === 'E_SERVER_STOPPING') {
              // The server restarting: expected, and tried again as any failure is.
              this.options.logger.warn(
                details,
                'the server is stopping or restarting: rotating the host credential again later',
              );
            } else {
              this.options.logger.error(
                details,
                final
                  ? 'the host credential no longer counts: this host must be enrolled again'
                  : 'rotating the host credential failed; trying again',
              );
            }
            if (!final) this.schedule(this.retryMs());
          },
        );
      },
      Math.min(delayMs, MAX_TIMER_MS),
    );
    // The agent's connection and heartbeat keep the process; this need not.
    this.timer.unref();
  }

  /** The pause after a failed rotation: the configured one, but never past the expiry. */
  private retryMs(): number {
    const configured = this.options.retryMs ?? 60_000;
    const expiresAt = this.options.identity.credential?.expiresAt;
    if (expiresAt === undefined) return configured;
    const left = Date.parse(expiresAt) - Date.now();
    return Math.max(1000, Math.min(configured, left / 4));
  }
}
