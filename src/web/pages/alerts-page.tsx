import { useState } from 'preact/hooks';
import { alertSubjectText } from '../../protocol/alert-api.js';
import { api } from '../api/ferry-api.js';
import { useResource } from '../api/use-resource.js';
import { DataTable } from '../components/data-table.js';
import { ErrorBox } from '../components/error-box.js';
import { RelTime } from '../components/rel-time.js';
import { useTitle } from '../components/use-title.js';
import type { PageProps } from '../router/page-route.js';

/**
 * Alerts, newest first: services failing or restarting, full disks and
 * memory, hosts away — each with its subject, when it started and cleared,
 * and what it said. Open ones only unless asked for all (kept in the
 * address: `?all=1`); fetched again as alerts are raised and cleared.
 */
export function AlertsPage({ search }: PageProps<'/alerts'>) {
  useTitle('Alerts');
  const [all, setAll] = useState(new URLSearchParams(search).get('all') === '1');
  const alerts = useResource(
    (signal) => api.call('alerts', { query: all ? {} : { open: 'true' } }, { signal }),
    [all],
    { events: { kinds: ['alert.raised', 'alert.cleared'] }, debounceMs: 300, keepData: true },
  );
  const rows = alerts.data?.alerts ?? [];

  return (
    <>
      <h1>Alerts</h1>
      {alerts.error !== undefined && <ErrorBox error={alerts.error} />}
      <div class="filters">
        <label>
          <input
            type="checkbox"
            checked={all}
            onChange={(event) => {
              const next = event.currentTarget.checked;
              setAll(next);
              history.replaceState(null, '', `${location.pathname}${next ? '?all=1' : ''}`);
            }}
          />{' '}
          Cleared ones too
        </label>
        <p class="muted" aria-live="polite" data-testid="alerts-count">
          {alerts.data === undefined
            ? 'Loading…'
            : rows.length === 0
              ? all
                ? 'No alerts.'
                : 'No open alerts.'
              : `${rows.length} alert${rows.length === 1 ? '' : 's'}`}
        </p>
      </div>
      {rows.length > 0 && (
        <DataTable columns={['Kind', 'Subject', 'Started', 'Cleared', 'Message']} testId="alerts">
          {rows.map((alert) => (
            <tr key={alert.id} data-open={alert.clearedAt === null ? 'yes' : 'no'}>
              <td>{alert.kind}</td>
              <td>
                {alert.host !== null && alert.app === null ? (
                  <a href={`/hosts/${encodeURIComponent(alert.host)}`}>{alert.host}</a>
                ) : (
                  alertSubjectText(alert)
                )}
              </td>
              <td>
                <RelTime at={alert.startedAt} />
              </td>
              <td>
                {alert.clearedAt === null ? (
                  <strong>open</strong>
                ) : (
                  <span title={alert.clearedBecause ?? undefined}>
                    <RelTime at={alert.clearedAt} />
                  </span>
                )}
              </td>
              <td>{alert.message}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </>
  );
}
