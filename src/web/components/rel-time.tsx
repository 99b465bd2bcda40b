import { useEffect, useState } from 'preact/hooks';
import { exactTime, relativeTime } from '../lib/relative-time.js';

const listeners = new Set<(now: number) => void>();
let ticker: ReturnType<typeof setInterval> | undefined;

/** The time now, renewed every 15 s by one shared timer while anything shows it. */
function useNow(): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    listeners.add(setNow);
    ticker ??= setInterval(() => {
      const at = Date.now();
      for (const listener of listeners) listener(at);
    }, 15_000);
    return () => {
      listeners.delete(setNow);
      if (listeners.size === 0 && ticker !== undefined) {
        clearInterval(ticker);
        ticker = undefined;
      }
    };
  }, []);
  return now;
}

/**
 * A time, relative ("3 minutes ago", kept current) in a `<time>` whose
 * `datetime` is exact, with the exact time on hover.
 *
 * @example
 *   <RelTime at={bundle.pushedAt} />
 */
export function RelTime({ at }: { at: string | null | undefined }) {
  const now = useNow();
  if (!at) return <span class="muted">—</span>;
  return (
    <time dateTime={at} title={exactTime(at)}>
      {relativeTime(at, now)}
    </time>
  );
}
