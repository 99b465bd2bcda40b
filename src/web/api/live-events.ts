import { streamEvents } from '../../client/event-stream.js';
import { type EventFilter, type FerryEvent, matchesFilter } from '../../protocol/events.js';
import { api } from './ferry-api.js';
import { isSignedOutError } from './session.js';

/** Whether the page is following the server's events: not yet, yes, or lost and trying again. */
export type LiveStatus = 'connecting' | 'live' | 'down';

interface Subscriber {
  filter: EventFilter;
  onEvent(event: FerryEvent): void;
}

/**
 * The page's one connection to the server's event stream (`GET /api/v1/events`),
 * shared by every page and component: each subscribes with a filter and gets
 * the events it matches, in order, once. A dropped connection is made again
 * from the last event seen (`Last-Event-ID`), so nothing is missed; when the
 * server no longer has every event since (a gap), or the page cannot know what
 * it missed, or after an outage (fetches made meanwhile failed), everyone
 * subscribed to `onResync` fetches again.
 */
export class LiveEvents {
  private readonly subscribers = new Set<Subscriber>();
  private readonly resyncListeners = new Set<() => void>();
  private readonly statusListeners = new Set<(status: LiveStatus) => void>();
  private controller: AbortController | undefined;
  private lastId: string | undefined;
  status: LiveStatus = 'connecting';

  /** Starts following (once; a second call while running does nothing). */
  start(onSignedOut: () => void): void {
    if (this.controller) return;
    const controller = new AbortController();
    this.controller = controller;
    this.run(controller.signal, onSignedOut).catch((err: unknown) => {
      // run() handles every error of the stream; this is a defect, shown in the console.
      console.error('The event stream stopped:', err);
      this.setStatus('down');
    });
  }

  /** Stops following (signing out): the next start begins afresh. */
  stop(): void {
    this.controller?.abort();
    this.controller = undefined;
    this.lastId = undefined;
    this.setStatus('connecting');
  }

  /** Calls `onEvent` with each event that matches `filter`; returns the function that stops it. */
  subscribe(filter: EventFilter, onEvent: (event: FerryEvent) => void): () => void {
    const subscriber = { filter, onEvent };
    this.subscribers.add(subscriber);
    return () => void this.subscribers.delete(subscriber);
  }

  /** Calls `listener` whenever events may have been missed: whoever shows records fetches them again. */
  onResync(listener: () => void): () => void {
    this.resyncListeners.add(listener);
    return () => void this.resyncListeners.delete(listener);
  }

  /** Calls `listener` with each change of status. */
  onStatus(listener: (status: LiveStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => void this.statusListeners.delete(listener);
  }

  private async run(signal: AbortSignal, onSignedOut: () => void): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        await streamEvents({
          client: api,
          query: {},
          after: this.lastId,
          signal,
          onEvent: (event) => {
            this.lastId = event.id;
            this.dispatch(event);
          },
          onGap: () => this.resync(),
          onOpen: () => {
            failures = 0;
            const wasDown = this.status === 'down';
            this.setStatus('live');
            // Without an event seen, there is no id to resume from: what
            // happened before this connection is fetched instead. After an
            // outage, fetches made while the server was away failed: fetch again.
            if (this.lastId === undefined || wasDown) this.resync();
          },
          onReconnect: () => this.setStatus('down'),
        });
      } catch (err) {
        if (signal.aborted) return;
        if (isSignedOutError(err)) {
          onSignedOut();
          return;
        }
        // The server could not be reached, or answered with an error (a restart,
        // a proxy's 502): try again, from the last event seen.
        this.setStatus('down');
        failures += 1;
        await sleep(Math.min(1000 * 2 ** Math.min(failures, 5), 30_000), signal);
      }
    }
  }

  private dispatch(event: FerryEvent): void {
    for (const subscriber of this.subscribers) {
      if (!matchesFilter(event, subscriber.filter)) continue;
      try {
        subscriber.onEvent(event);
      } catch (err) {
        // One page's mistake must not stop the others' events.
        console.error(`A subscriber of ${event.kind} failed:`, err);
      }
    }
  }

  private resync(): void {
    for (const listener of this.resyncListeners) listener();
  }

  private setStatus(status: LiveStatus): void {
    if (status === this.status) return;
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** The page's one event stream. */
export const liveEvents = new LiveEvents();
