import { useState } from 'preact/hooks';
import { EVENT_KINDS, type EventKind, type FerryEvent } from '../../protocol/events.js';
import { api } from '../api/ferry-api.js';
import { useLiveEvents } from '../api/use-live.js';
import { useResource } from '../api/use-resource.js';
import { ErrorBox } from '../components/error-box.js';
import { RelTime } from '../components/rel-time.js';
import { StateBadge } from '../components/state-badge.js';
import { useTitle } from '../components/use-title.js';
import { describeEvent } from '../lib/describe-event.js';

/** How many live events are kept on the page; older ones drop off the end. */
const KEPT = 300;
/** History lines asked for at first, and added by "Load more" (the server gives at most 1000). */
const PAGE = 50;
const MOST = 1000;

/**
 * What happened: the live event stream as it arrives (newest first), and
 * the recorded history below it, both filtered by app, environment and (for
 * live events) kind; "Load more" reaches further back.
 */
export function ActivityPage() {
  useTitle('Activity');
  const [app, setApp] = useState('');
  const [env, setEnv] = useState('');
  const [kind, setKind] = useState<EventKind | ''>('');
  const [limit, setLimit] = useState(PAGE);
  const [live, setLive] = useState<FerryEvent[]>([]);

  useLiveEvents({}, (event) => setLive((events) => [event, ...events].slice(0, KEPT)));
  const history = useResource(
    (signal) => api.call('history', { query: { limit } }, { signal }),
    [limit],
    {
      events: {
        kinds: [
          'bundle.pushed',
          'deployment.created',
          'deployment.state',
          'verdict.changed',
          'note.changed',
        ],
      },
      debounceMs: 1500,
      keepData: true,
    },
  );
  const apps = useResource((signal) => api.call('apps', {}, { signal }), []);
  const envs = useResource((signal) => api.call('environments', {}, { signal }), []);

  const shownLive = live.filter(
    (event) =>
      (app === '' || event.app === app) &&
      (env === '' || event.env === env) &&
      (kind === '' || event.kind === kind),
  );
  const lines = (history.data?.history ?? []).filter(
    (entry) => (app === '' || entry.app === app) && (env === '' || entry.env === env),
  );

  return (
    <section>
      <h1>Activity</h1>
      <form class="filters" aria-label="Filter" onSubmit={(event) => event.preventDefault()}>
        <label>
          App
          <select value={app} onChange={(e) => setApp(e.currentTarget.value)}>
            <option value="">all</option>
            {(apps.data?.apps ?? []).map((a) => (
              <option key={a.name} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Environment
          <select value={env} onChange={(e) => setEnv(e.currentTarget.value)}>
            <option value="">all</option>
            {(envs.data?.environments ?? []).map((e) => (
              <option key={e.name} value={e.name}>
                {e.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind of live event
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value as EventKind | '')}>
            <option value="">all</option>
            {EVENT_KINDS.map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </label>
      </form>

      <h2 id="live-title">Live</h2>
      {shownLive.length === 0 ? (
        <p class="muted" data-testid="live-empty">
          Nothing yet since this page opened{live.length > 0 ? ' that matches the filter' : ''}.
        </p>
      ) : (
        <ol
          class="events"
          aria-labelledby="live-title"
          aria-live="polite"
          data-testid="live-events"
        >
          {shownLive.map((event) => {
            const words = describeEvent(event);
            return (
              <li key={event.id} data-kind={event.kind}>
                <span class="when">
                  <RelTime at={event.at} />
                </span>
                <code>{event.kind}</code>
                {words.state && <StateBadge state={words.state} />}
                <span>{words.text}</span>
                {event.deploymentId && (
                  <a href={`/deployments/${encodeURIComponent(event.deploymentId)}`}>deployment</a>
                )}
              </li>
            );
          })}
        </ol>
      )}

      <h2 id="history-title">History</h2>
      {history.error !== undefined && <ErrorBox error={history.error} />}
      {lines.length === 0 ? (
        <p class="muted">{history.data ? 'Nothing recorded that matches.' : 'Loading…'}</p>
      ) : (
        <ol class="events" aria-labelledby="history-title" data-testid="history">
          {lines.map((entry, index) => (
            <li key={`${entry.at}|${index}`} data-type={entry.type}>
              <span class="when">
                <RelTime at={entry.at} />
              </span>
              <code>{entry.type}</code>
              <span>
                {entry.app && (
                  <a href={`/apps/${entry.app}`}>
                    {entry.app}
                    {entry.version !== null ? `@${entry.version}` : ''}
                  </a>
                )}
                {entry.env ? ` in ${entry.env}` : ''} {entry.detail}
              </span>
              <span class="muted">by {entry.by}</span>
              {entry.note && <span class="note-text">“{entry.note}”</span>}
              {entry.deploymentId && (
                <a href={`/deployments/${encodeURIComponent(entry.deploymentId)}`}>deployment</a>
              )}
            </li>
          ))}
        </ol>
      )}
      {history.data && history.data.history.length >= limit && limit < MOST && (
        <button
          type="button"
          class="button secondary"
          onClick={() => setLimit(Math.min(limit + PAGE, MOST))}
        >
          Load more
        </button>
      )}
    </section>
  );
}
