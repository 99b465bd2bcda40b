import { useLiveStatus } from '../api/use-live.js';

/** Says when the live event stream is lost, until it is back (nothing while it is fine). */
export function ConnectionBanner() {
  const status = useLiveStatus();
  return (
    <div class="connection-banner" role="status" aria-live="polite" data-testid="connection">
      {status === 'down' && (
        <p class="banner-down">
          <span aria-hidden="true">⚠</span> Connection lost — reconnecting…
        </p>
      )}
    </div>
  );
}
