import { api } from '../api/ferry-api.js';
import { useResource } from '../api/use-resource.js';
import { ErrorBox } from '../components/error-box.js';
import { useTitle } from '../components/use-title.js';
import { ActiveDeployment } from './overview/active-deployment.js';
import { EnvironmentCell } from './overview/environment-cell.js';
import { DataTable } from '../components/data-table.js';

/** The events that change what the overview shows. */
const STATUS_EVENTS = {
  kinds: [
    'bundle.pushed',
    'deployment.created',
    'deployment.state',
    'install.state',
    'verdict.changed',
    'host.connected',
    'host.disconnected',
    // A host's health and the version it reports come from its facts: one that
    // turns unhealthy after its rollout says so only in a facts report.
    'host.facts',
    // Continuous health: a service turning failing, stopped or healthy again.
    'host.health',
  ],
} as const;

/**
 * What runs where: a matrix of apps × environments (in lifecycle order), each
 * cell the desired version, its verdict, and every host by state; and the
 * deployments under way with their progress, live. With many hosts, events
 * come often: the matrix is fetched again at most once a second.
 */
export function OverviewPage() {
  useTitle('Overview');
  const status = useResource((signal) => api.call('status', {}, { signal }), [], {
    events: { kinds: [...STATUS_EVENTS.kinds] },
    debounceMs: 1000,
  });
  const envs = useResource((signal) => api.call('environments', {}, { signal }), [], {
    events: { kinds: ['host.connected', 'host.disconnected'] },
    debounceMs: 2000,
  });

  const environments = envs.data?.environments ?? [];
  const apps = status.data?.apps ?? [];
  const active = apps.flatMap((app) =>
    app.environments.flatMap((env) =>
      env.active
        ? [{ id: env.active.id, app: app.app, env: env.env, version: env.active.version }]
        : [],
    ),
  );

  return (
    <section>
      <h1>Overview</h1>
      {status.error !== undefined && <ErrorBox error={status.error} title="Status:" />}
      {envs.error !== undefined && <ErrorBox error={envs.error} title="Environments:" />}

      <h2 id="under-way">Deployments under way</h2>
      {active.length === 0 ? (
        <p class="muted" data-testid="none-under-way">
          {status.data ? 'None.' : 'Loading…'}
        </p>
      ) : (
        <ul class="events" aria-labelledby="under-way">
          {active.map((deployment) => (
            <ActiveDeployment key={deployment.id} {...deployment} />
          ))}
        </ul>
      )}

      <h2 id="matrix-title">Apps and environments</h2>
      {status.data && apps.length === 0 && (
        <p class="muted">No app yet: push a bundle with `ferry push`.</p>
      )}
      {apps.length > 0 && environments.length > 0 && (
        <DataTable
          columns={[
            'App',
            ...environments.map((env) => `${env.name}${env.protected ? ' (protected)' : ''}`),
          ]}
          testId="matrix"
          class="matrix"
          labelledBy="matrix-title"
        >
          {apps.map((app) => (
            <tr key={app.app} data-app={app.app}>
              <th scope="row">
                <a href={`/apps/${app.app}`}>{app.app}</a>
                <div class="muted">latest v{app.latestVersion}</div>
              </th>
              {environments.map((env) => {
                const status = app.environments.find((e) => e.env === env.name);
                return (
                  <td class="env-cell" key={env.name}>
                    {status ? (
                      <EnvironmentCell app={app.app} env={status} />
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}
