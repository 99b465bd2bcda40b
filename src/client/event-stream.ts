import { FerryError } from '../protocol/errors.js';
import { errorFromResponse, type FerryClient } from './ferry-client.js';
import { type FerryEvent, ferryEventSchema, STREAM_GAP_EVENT } from '../protocol/events.js';

/** Which events to stream; each given field must match. */
export interface StreamQuery {
  app?: string;
  env?: string;
  deployment?: string;
  host?: string;
  kinds?: string[];
}

export interface StreamOptions {
  /** The client whose server, token and headers (`FerryClient.headers`) the stream uses. */
  client: FerryClient;
  query: StreamQuery;
  /** Resume after this event id; without it, the stream starts now. */
  after?: string;
  /** Called with each event, in order, once. Returning false ends the stream. */
  onEvent(event: FerryEvent): boolean | void;
  /** Called when the server no longer keeps every event after `after`. */
  onGap?(oldestKept: string): void;
  /**
   * Called each time the server has answered and holds the subscription:
   * started without `after`, the stream carries every event recorded from this
   * moment on (so a client may open it first, then make the change it follows).
   */
  onOpen?(): void;
  /** Called when the connection dropped and is being made again (once until it is back). */
  onReconnect?(error: Error): void;
  signal?: AbortSignal;
  /** How long to wait before reconnecting (the server may say otherwise with `retry:`). */
  retryMs?: number;
  /**
   * How long a connection may stay silent before it is taken for dead and made
   * again (45 s unless told). The server writes a comment every 15 s, so a
   * live stream is never this quiet; a half-open one (a laptop that slept, a
   * dropped Wi-Fi, a NAT that forgot it) is, and would otherwise wait forever.
   */
  idleTimeoutMs?: number;
}

/** See `StreamOptions.idleTimeoutMs`: three of the server's keep-alive comments missed. */
const IDLE_TIMEOUT_MS = 45_000;

/**
 * Reads the server's live event stream (`GET /api/v1/events`, Server-Sent
 * Events) with fetch only, so it runs in Node and in a browser. A dropped
 * connection is made again with `Last-Event-ID`, so nothing is missed and
 * nothing comes twice; so is one silent for longer than `idleTimeoutMs` (a
 * half-open connection, which never ends by itself). Resolves when `onEvent` returns false or the signal
 * aborts; rejects on an answer that is an error (a bad token, a bad filter).
 *
 * @example
 *   await streamEvents({ server, token, query: { deployment: id }, onEvent: (e) => print(e) });
 */
export async function streamEvents(options: StreamOptions): Promise<void> {
  let after = options.after;
  let retryMs = options.retryMs ?? 1000;
  let connected = false;
  let failures = 0;
  for (;;) {
    if (options.signal?.aborted) return;
    let done = false;
    try {
      done = await readOnce(options, after, {
        opened: () => {
          connected = true;
          failures = 0;
          options.onOpen?.();
        },
        event: (event) => {
          after = event.id;
          return options.onEvent(event) === false;
        },
        retry: (ms) => (retryMs = ms),
      });
    } catch (err) {
      if (options.signal?.aborted) return;
      if (err instanceof FerryError) throw err;
      // A server never reached is an error; one that went away is waited for.
      if (!connected) throw options.client.unreachable(err);
      if (failures === 0) options.onReconnect?.(err as Error);
      failures += 1;
    }
    if (done) return;
    // Doubling while the server stays away, to at most 30 s.
    await sleep(Math.min(retryMs * 2 ** Math.min(failures, 5), 30_000), options.signal);
  }
}

/** One connection: true when the caller is done, false when the stream ended and should resume. */
async function readOnce(
  options: StreamOptions,
  after: string | undefined,
  on: { opened(): void; event(event: FerryEvent): boolean; retry(ms: number): void },
): Promise<boolean> {
  const { kinds, ...rest } = options.query;
  const url = options.client.url('events', { query: { ...rest, kinds: kinds?.join(',') } });
  const headers: Record<string, string> = {
    accept: 'text/event-stream',
    ...options.client.headers(),
  };
  if (after !== undefined) headers['last-event-id'] = after;
  const controller = new AbortController();
  const abort = () => controller.abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  // A watchdog, set again by every chunk (keep-alive comments included): a
  // connection that goes silent is aborted, and the caller reconnects.
  const idleMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  let silent = false;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const heard = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      silent = true;
      controller.abort();
    }, idleMs);
  };
  try {
    heard();
    const response = await options.client.fetch(url, { headers, signal: controller.signal });
    if (!response.ok) throw await errorFromResponse(response);
    if (!response.body) throw new Error('the event stream has no body');
    on.opened();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      heard();
      buffer += value;
      let end: number;
      while ((end = frameEnd(buffer)) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^(\r\n|\r|\n){2}|^\n\n/, '');
        if (handleFrame(frame, options, on)) {
          await reader.cancel().catch(() => undefined);
          return true;
        }
      }
    }
  } catch (err) {
    if (silent && !options.signal?.aborted) {
      throw new Error(`the event stream was silent for ${idleMs} ms: taken for dead`, {
        cause: err,
      });
    }
    throw err;
  } finally {
    clearTimeout(watchdog);
    options.signal?.removeEventListener('abort', abort);
    controller.abort();
  }
}

/** Where the first complete frame (ended by a blank line) ends, or -1. */
function frameEnd(buffer: string): number {
  const match = /\r\n\r\n|\n\n|\r\r/.exec(buffer);
  return match ? match.index : -1;
}

/** One frame of the stream; true when the caller is done. */
function handleFrame(
  frame: string,
  options: StreamOptions,
  on: { event(event: FerryEvent): boolean; retry(ms: number): void },
): boolean {
  let kind = 'message';
  const data: string[] = [];
  for (const line of frame.split(/\r\n|\r|\n/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') kind = value;
    else if (field === 'data') data.push(value);
    else if (field === 'retry' && /^\d+$/.test(value)) on.retry(Number(value));
  }
  if (data.length === 0) return false;
  const parsed: unknown = JSON.parse(data.join('\n'));
  if (kind === STREAM_GAP_EVENT) {
    const oldest = (parsed as { oldestKept?: unknown }).oldestKept;
    options.onGap?.(typeof oldest === 'string' ? oldest : '');
    return false;
  }
  const event = ferryEventSchema.safeParse(parsed);
  // An event of a kind this client does not know (a newer server) is passed over.
  if (!event.success) return false;
  return on.event(event.data);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
