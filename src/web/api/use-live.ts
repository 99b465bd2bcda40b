import { useEffect, useRef, useState } from 'preact/hooks';
import type { EventFilter, FerryEvent } from '../../protocol/events.js';
import { liveEvents, type LiveStatus } from './live-events.js';

/**
 * Calls `onEvent` with each live event that matches `filter`, while the
 * component is shown. The filter is compared by value, so an object literal
 * is fine; `onEvent` may change each render.
 *
 * @example
 *   useLiveEvents({ app: 'cart', kinds: ['verdict.changed'] }, (event) => setLast(event));
 */
export function useLiveEvents(
  filter: EventFilter | null,
  onEvent: (event: FerryEvent) => void,
): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const key = filter === null ? null : JSON.stringify(filter);
  useEffect(() => {
    if (key === null) return;
    return liveEvents.subscribe(JSON.parse(key) as EventFilter, (event) => handler.current(event));
  }, [key]);
}

/** Calls `onResync` when events may have been missed (a gap, a stream begun afresh). */
export function useResync(onResync: () => void): void {
  const handler = useRef(onResync);
  handler.current = onResync;
  useEffect(() => liveEvents.onResync(() => handler.current()), []);
}

/** Whether the page follows the server's events now. */
export function useLiveStatus(): LiveStatus {
  const [status, setStatus] = useState(liveEvents.status);
  useEffect(() => {
    setStatus(liveEvents.status);
    return liveEvents.onStatus(setStatus);
  }, []);
  return status;
}
