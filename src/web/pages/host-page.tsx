import { useMemo } from 'preact/hooks';
import { api } from '../api/ferry-api.js';
import { useLiveEvents } from '../api/use-live.js';
import { useResource } from '../api/use-resource.js';
import { ErrorBox } from '../components/error-box.js';
import { FactsHistory, HostFactsList } from '../components/host-facts.js';
import { RelTime } from '../components/rel-time.js';
import { ServiceHealthBadge } from '../components/service-health-badge.js';
import { StateBadge } from '../components/state-badge.js';
import { useTitle } from '../components/use-title.js';
import { hostInstalls } from '../lib/host-installs.js';
import { hostRows } from '../lib/hosts-model.js';
import type { PageProps } from '../router/page-route.js';
import { DataTable } from '../components/data-table.js';

/** How many samples of the facts' history, and deployments of its environment, are shown. */
const HISTORY = 20;
const DEPLOYMENTS = 30;

/**
 * One host: its facts and their history (what changed in each sample), what
 * it runs, and its recent installs with links to their deployments. Fetched
 * again, debounced, when the host reports facts, comes or goes, or installs.
 */
export function HostPage({ params }: PageProps<'/hosts/:name'>) {
  const name = params.name;
  useTitle(name);
  const facts = useResource(
    (signal) =>
      api.call('hostFacts', { params: { name }, query: { history: HISTORY } }, { signal }),
    [name],
  );
  const hostId = facts.data?.hostId;
  const env = facts.data?.env;
  const hosts = useResource(
    (signal) =>
      env === undefined
        ? Promise.resolve(undefined)
        : api.call('hosts', { query: { env } }, { signal }),
    [env],
  );
  const status = useResource((signal) => api.call('status', {}, { signal }), []);
  const deployments = useResource(
    (signal) =>
      env === undefined
        ? Promise.resolve(undefined)
        : api.call('deployments', { query: { env, limit: DEPLOYMENTS } }, { signal }),
    [env],
  );
  // This host's own events only (a thousand others report facts too): each
  // fetches again what it changes.
  useLiveEvents(hostId === undefined ? null : { hostId }, (event) => {
    if (event.kind === 'host.facts') {
      facts.reload();
      // What it runs, and whether it is healthy, is read from its facts too.
      status.reload();
    } else if (event.kind === 'host.connected' || event.kind === 'host.disconnected') {
      facts.reload();
      hosts.reload();
    } else if (event.kind === 'host.health') {
      // Continuous health: a service of this host turned failing, stopped or healthy.
      status.reload();
    } else if (event.kind === 'install.state') {
      status.reload();
      deployments.reload();
    }
  });

  const answer = facts.data;
  const record = hosts.data?.hosts.find((h) => h.name === name);
  const runs = useMemo(
    () => (record ? (hostRows([record], status.data?.apps ?? [])[0]?.apps ?? []) : []),
    [record, status.data],
  );
  const installs = useMemo(
    () => hostInstalls(name, deployments.data?.deployments ?? [], status.data?.apps ?? []),
    [name, deployments.data, status.data],
  );

  if (answer === undefined) {
    return (
      <>
        <h1>{name}</h1>
        {facts.error !== undefined ? (
          <ErrorBox error={facts.error} />
        ) : (
          <p class="muted" aria-busy="true">
            Loading…
          </p>
        )}
      </>
    );
  }

  return (
    <>
      <h1>
        {name}{' '}
        {record && (
          <StateBadge
            state={record.connected ? 'connected' : 'away'}
            label={record.connected ? 'connected' : 'away'}
          />
        )}
      </h1>
      {facts.error !== undefined && <ErrorBox error={facts.error} title="Could not refresh:" />}
      <dl class="facts" data-testid="host-summary">
        <div>
          <dt>Environment</dt>
          <dd>
            <a href={`/hosts?env=${encodeURIComponent(answer.env)}`}>{answer.env}</a>
          </dd>
        </div>
        <div>
          <dt>Roles</dt>
          <dd>{record ? record.roles.join(', ') || '—' : '…'}</dd>
        </div>
        <div>
          <dt>Last seen</dt>
          <dd>
            <RelTime at={answer.lastSeenAt} />
          </dd>
        </div>
        <div>
          <dt>Enrolled</dt>
          <dd>
            <RelTime at={record?.enrolledAt} />
          </dd>
        </div>
      </dl>

      <section class="panel" aria-labelledby="runs-title">
        <h2 id="runs-title">What it runs</h2>
        {runs.length === 0 ? (
          <p class="muted">No app of Ferry's runs here.</p>
        ) : (
          <ul class="host-apps" data-testid="host-runs">
            {runs.map((app) => (
              <li key={app.app}>
                <a href={`/apps/${encodeURIComponent(app.app)}`}>{app.app}</a>@{app.version ?? '—'}
                {app.desired !== null && app.version !== app.desired && (
                  <span class="muted"> (desired {app.desired})</span>
                )}{' '}
                {app.service === null ? (
                  <StateBadge state={app.health} />
                ) : (
                  <ServiceHealthBadge service={app.service} />
                )}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section class="panel" aria-labelledby="installs-title">
        <h2 id="installs-title">Recent installs</h2>
        {deployments.error !== undefined && <ErrorBox error={deployments.error} />}
        {installs.length === 0 ? (
          <p class="muted">No install recorded here.</p>
        ) : (
          <DataTable
            columns={['When', 'Bundle', 'Why', 'Outcome', 'Deployment']}
            testId="host-installs"
          >
            {installs.map((install) => (
              <tr key={install.id}>
                <td>
                  <RelTime at={install.at} />
                </td>
                <td>
                  {install.app}@{install.version}
                </td>
                <td>{install.purpose}</td>
                <td>
                  <StateBadge state={install.state} />
                  {install.step && <span class="muted"> at {install.step}</span>}
                </td>
                <td>
                  {install.deploymentId ? (
                    <a
                      href={`/deployments/${encodeURIComponent(install.deploymentId)}${install.step ? `?install=${encodeURIComponent(install.id)}&step=${encodeURIComponent(install.step)}` : ''}`}
                    >
                      {install.env} · {install.kind ?? 'deployment'}
                    </a>
                  ) : (
                    <span class="muted">by hand</span>
                  )}
                </td>
              </tr>
            ))}
          </DataTable>
        )}
      </section>

      <section class="panel" aria-labelledby="facts-title">
        <h2 id="facts-title">Facts</h2>
        {answer.facts === null ? (
          <p class="muted">The host has not reported its facts yet.</p>
        ) : (
          <HostFactsList facts={answer.facts} />
        )}
      </section>

      <section class="panel" aria-labelledby="history-title">
        <h2 id="history-title">Facts history</h2>
        <FactsHistory history={answer.history} />
      </section>
    </>
  );
}
