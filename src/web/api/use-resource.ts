import { useEffect, useRef, useState } from 'preact/hooks';
import type { EventFilter } from '../../protocol/events.js';
import { RefetchScheduler } from '../lib/refetch-scheduler.js';
import { liveEvents } from './live-events.js';
import { isSignedOutError, sessionEnded } from './session.js';

/** What a page shows of something it fetched: the data (kept while it is fetched again), or the error. */
export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** Fetches again now (after an action the page took). */
  reload(): void;
}

export interface ResourceOptions {
  /** The events after which it is fetched again (any of several filters); none (the default): fetched once. */
  events?: EventFilter | readonly EventFilter[];
  /** At most one fetch per this many ms however many events arrive (default 400). */
  debounceMs?: number;
  /** Keep showing the data of the deps before while the new ones are fetched ("load more"). */
  keepData?: boolean;
}

/**
 * Fetches something when the component shows it (and when `deps` change),
 * then again, debounced, when live events matching `options.events` arrive
 * or events may have been missed. A 401 (the session ended) sends the person
 * to sign in again.
 *
 * @example
 *   const status = useResource((signal) => api.call('status', {}, { signal }), [],
 *     { events: { kinds: ['install.state', 'deployment.state'] } });
 */
export function useResource<T>(
  load: (signal: AbortSignal) => Promise<T>,
  deps: readonly unknown[],
  options: ResourceOptions = {},
): Resource<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: true,
  });
  const loader = useRef(load);
  loader.current = load;
  const scheduler = useRef<RefetchScheduler>();
  const eventsKey = options.events === undefined ? null : JSON.stringify(options.events);
  const debounceMs = options.debounceMs ?? 400;
  const keepData = useRef(options.keepData === true);
  keepData.current = options.keepData === true;

  useEffect(() => {
    const controller = new AbortController();
    if (!keepData.current) setState({ data: undefined, error: undefined, loading: true });
    const fetchOnce = async () => {
      setState((s) => ({ ...s, loading: true }));
      try {
        const data = await loader.current(controller.signal);
        if (!controller.signal.aborted) setState({ data, error: undefined, loading: false });
      } catch (error) {
        if (controller.signal.aborted) return;
        if (isSignedOutError(error)) return sessionEnded();
        setState((s) => ({ ...s, error, loading: false }));
      }
    };
    const refetch = new RefetchScheduler(fetchOnce, debounceMs);
    scheduler.current = refetch;
    refetch.now();
    const stops = [liveEvents.onResync(() => refetch.request())];
    if (eventsKey !== null) {
      const parsed = JSON.parse(eventsKey) as EventFilter | EventFilter[];
      for (const filter of Array.isArray(parsed) ? parsed : [parsed]) {
        stops.push(liveEvents.subscribe(filter, () => refetch.request()));
      }
    }
    return () => {
      for (const stop of stops) stop();
      refetch.dispose();
      controller.abort();
    };
    // `deps` name what is fetched; the loader itself may be a new function each render.
  }, [...deps, eventsKey, debounceMs]);

  return { ...state, reload: () => scheduler.current?.now() };
}
