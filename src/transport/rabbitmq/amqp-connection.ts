import { readFileSync } from 'node:fs';
import amqp, { type ChannelModel } from 'amqplib';
import { FerryError } from '../../protocol/errors.js';
import { redact } from '../../protocol/redact-url.js';
import type { TransportLogger } from '../transport.js';

export interface AmqpConnectionOptions {
  url: string;
  logger: TransportLogger;
  /** Who this connection is for the logs: `server`, `agent host_…`. */
  name: string;
  /**
   * A PEM file of the CA certificates that the broker's certificate must chain
   * to, for an `amqps://` URL (a broker with its own CA); without it, the
   * system's CAs. Read once, at start.
   */
  caFile?: string | undefined;
  /**
   * Sets up a fresh connection: channels, topology, consumers. Called after each
   * (re)connection; if it throws, the connection is dropped and tried again.
   */
  setup: (connection: ChannelModel) => Promise<void>;
  /** Told when the connection is lost, before the next attempt. */
  onLost?: () => void;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * One AMQP connection kept up for as long as it is wanted: reconnects with
 * exponential backoff and jitter after a broker restart or a dropped socket,
 * and runs `setup` again each time (topology, consumers, what was not
 * confirmed). A channel closed by the broker (an error on it) brings the whole
 * connection down and up again, so every part starts over together.
 */
export class AmqpConnection {
  private connection: ChannelModel | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readyWaiters: (() => void)[] = [];
  private lastError = '';
  private connecting: Promise<void> | undefined;

  /** The CA certificates of `caFile`, as read at start. */
  private readonly ca: Buffer | undefined;

  constructor(private readonly options: AmqpConnectionOptions) {
    checkBrokerUrl(options.url);
    this.ca = readBrokerCa(options.url, options.caFile);
  }

  /** The broker user this connection authenticates as. */
  get username(): string {
    try {
      return decodeURIComponent(new URL(this.options.url).username) || 'guest';
    } catch {
      return 'guest';
    }
  }

  start(): void {
    this.attemptNow();
  }

  /** True while connected and set up. */
  get up(): boolean {
    return this.connection !== undefined;
  }

  /** Resolves when the connection is up (at once if it is). */
  ready(): Promise<void> {
    if (this.connection) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /**
   * Drops the connection on purpose: the next attempt comes after the usual
   * backoff. Deferred a turn: when the whole connection is going down, its
   * channels close first, and that is said once, as a lost connection.
   */
  reset(reason: string): void {
    const connection = this.connection;
    if (!connection) return;
    setImmediate(() => {
      if (this.connection !== connection) return;
      this.options.logger.warn(
        { name: this.options.name, reason },
        'resetting the broker connection',
      );
      void closeConnection(connection);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    // An attempt under way finishes first, so that nothing is declared after close.
    await this.connecting;
    const connection = this.connection;
    this.connection = undefined;
    if (connection) await closeConnection(connection);
  }

  private attemptNow(): void {
    this.connecting = this.connect().finally(() => (this.connecting = undefined));
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let connection: ChannelModel;
    try {
      connection = await amqp.connect(this.options.url, {
        clientProperties: { connection_name: `ferry ${this.options.name}` },
        // For amqps://, handed to tls.connect: the broker's certificate must chain to it.
        ...(this.ca === undefined ? {} : { ca: [this.ca] }),
      });
    } catch (err) {
      this.failed(err);
      return;
    }
    if (this.closed) {
      await closeConnection(connection);
      return;
    }
    connection.on('error', (err: Error) => {
      this.options.logger.warn(
        { name: this.options.name, err: err.message },
        'broker connection error',
      );
    });
    // A socket dropped while `setup` runs closes the connection before it is
    // ours: it must not then be kept as if it were up.
    let closedEarly = false;
    connection.on('close', () => {
      if (this.connection !== connection) {
        closedEarly = true;
        return;
      }
      this.connection = undefined;
      if (this.closed) return;
      this.options.logger.warn(
        { name: this.options.name },
        'lost the broker connection; reconnecting',
      );
      this.options.onLost?.();
      this.schedule();
    });
    try {
      await this.options.setup(connection);
    } catch (err) {
      await closeConnection(connection);
      this.failed(err);
      return;
    }
    if (this.closed) {
      await closeConnection(connection);
      return;
    }
    if (closedEarly) {
      this.options.logger.warn(
        { name: this.options.name },
        'lost the broker connection while setting it up; reconnecting',
      );
      this.options.onLost?.();
      this.schedule();
      return;
    }
    this.connection = connection;
    this.attempt = 0;
    this.lastError = '';
    this.options.logger.info(
      { name: this.options.name, broker: redact(this.options.url) },
      'connected to the broker',
    );
    for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  private failed(err: unknown): void {
    const message = (err as Error).message;
    // Said once per kind of failure, not at every attempt of a long outage.
    if (message !== this.lastError) {
      const tls = TLS_REFUSALS.has(String((err as NodeJS.ErrnoException).code));
      this.options.logger.error(
        {
          name: this.options.name,
          broker: redact(this.options.url),
          err: message,
          ...(tls ? { code: (err as NodeJS.ErrnoException).code } : {}),
        },
        tls
          ? `refused the broker: its TLS certificate is not one ${
              this.options.caFile === undefined
                ? "the system's CAs vouch for (give the broker's CA with --amqp-ca FILE, or transport.ca)"
                : `the CA in ${this.options.caFile} signed for this address`
            }; retrying with backoff`
          : 'cannot connect to the broker; retrying with backoff',
      );
      this.lastError = message;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    const initial = this.options.initialDelayMs ?? 250;
    const max = this.options.maxDelayMs ?? 15_000;
    const base = Math.min(max, initial * 2 ** this.attempt++);
    // Jitter spreads out a fleet of agents that lost the broker at the same moment.
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = setTimeout(() => this.attemptNow(), delay);
  }
}

/**
 * Closes a connection, waiting at most `timeoutMs`. amqplib's `close()` waits
 * for the broker's CloseOk and never settles when the socket dies meanwhile (a
 * broker gone, a network cut): its 'close' event ends the wait too, and past
 * the timeout the socket is destroyed.
 */
async function closeConnection(connection: ChannelModel, timeoutMs = 2000): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      connection.removeListener('close', done);
      resolve();
    };
    const timer = setTimeout(() => {
      // Not in amqplib's types: the connection's socket.
      const { stream } = connection.connection as unknown as { stream?: { destroy(): void } };
      stream?.destroy();
      done();
    }, timeoutMs);
    connection.once('close', done);
    connection.close().then(done, done);
  });
}

/** Node's codes for a TLS certificate it does not trust: the broker is not the one expected. */
const TLS_REFUSALS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * Reads the broker's CA file once, at start: a missing or unreadable file, or
 * one given for a plain `amqp://` URL, is a configuration error naming it.
 */
function readBrokerCa(url: string, caFile: string | undefined): Buffer | undefined {
  if (caFile === undefined) return undefined;
  if (!url.startsWith('amqps://')) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `A CA file for the broker (${caFile}) is for an amqps:// URL; ${redact(url)} is not one`,
      { caFile },
    );
  }
  let pem: Buffer;
  try {
    pem = readFileSync(caFile);
  } catch (err) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `Cannot read the broker's CA file ${caFile}: ${(err as Error).message}`,
      { caFile },
    );
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `The broker's CA file ${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
      { caFile },
    );
  }
  return pem;
}

/**
 * Checks a broker URL once, at start, so that a typo is a configuration error
 * that names it rather than a connection retried forever.
 */
function checkBrokerUrl(url: string): void {
  let problem: string | undefined;
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:')
      problem = `it must start with amqp:// or amqps://, not ${parsed.protocol}//`;
    else if (parsed.hostname === '') problem = 'it names no host';
  } catch {
    problem = 'it is not a URL';
  }
  if (problem !== undefined) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `The RabbitMQ URL ${redact(url)} is not valid: ${problem} (expected amqp://user:password@host:5672[/vhost])`,
      { url: redact(url) },
    );
  }
}
