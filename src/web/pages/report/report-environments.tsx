import type { ReportEnvironment, ReportInstall } from '../../../protocol/report-api.js';
import {
  deploymentPhrase,
  describeFailure,
  installPhrase,
  stepOutcome,
} from '../../../report/report-phrases.js';
import { AnsiText } from '../../components/ansi-text.js';
import { PhraseText } from '../../components/phrase-text.js';
import { StateBadge } from '../../components/state-badge.js';
import { DataTable } from '../../components/data-table.js';

/**
 * Each environment's deployments of the release and its installs host by
 * host; a failed install says where (step, exit code), shows the last lines
 * of its output and links to the whole log on its deployment's page.
 */
export function ReportEnvironments({
  environments,
}: {
  environments: readonly ReportEnvironment[];
}) {
  return (
    <section class="panel" aria-labelledby="installs-title">
      <h2 id="installs-title">Installs</h2>
      {environments.length === 0 && <p class="muted">No install yet.</p>}
      {environments.map((env) => (
        <div key={env.env} class="report-env" data-testid="report-env" data-env={env.env}>
          <h3>{env.env}</h3>
          <ul>
            {env.deployments.map((deployment) => (
              <li key={deployment.id}>
                <a href={`/deployments/${encodeURIComponent(deployment.id)}`}>
                  <PhraseText phrase={deploymentPhrase(deployment)} />
                </a>
                {deployment.error && <span class="muted"> — {deployment.error}</span>}
              </li>
            ))}
          </ul>
          <DataTable columns={['Host', 'Installs']}>
            {env.hosts.map((host) => (
              <tr key={host.host} data-testid="report-host" data-host={host.host}>
                <th scope="row">
                  <a href={`/hosts/${encodeURIComponent(host.host)}`}>{host.host}</a>
                </th>
                <td>
                  {host.installs.map((install) => (
                    <InstallLine key={install.id} install={install} />
                  ))}
                </td>
              </tr>
            ))}
          </DataTable>
        </div>
      ))}
    </section>
  );
}

function InstallLine({ install }: { install: ReportInstall }) {
  const failure = install.failure;
  const logLink =
    install.deploymentId === null
      ? null
      : `/deployments/${encodeURIComponent(install.deploymentId)}?install=${encodeURIComponent(install.id)}${failure?.step ? `&step=${encodeURIComponent(failure.step)}` : ''}`;
  return (
    <div class="report-install" data-state={install.state}>
      <StateBadge state={install.state} /> <PhraseText phrase={installPhrase(install)} />
      {install.steps.length > 0 && (
        <div class="muted">
          {install.steps.map((step) => `${step.step} ${stepOutcome(step)}`).join(' → ')}
        </div>
      )}
      {failure && (
        <div class="report-failure" data-testid="report-failure">
          <strong>{describeFailure(failure)}</strong>
          {failure.lastLines.length > 0 && (
            <pre class="failure-lines">
              <AnsiText text={failure.lastLines.join('\n')} />
            </pre>
          )}
          {logLink && (
            <a href={logLink} data-testid="failure-log-link">
              Full log of {failure.step ?? 'the install'}
            </a>
          )}{' '}
          <span class="muted">
            or <code>{failure.logsCommand}</code>
          </span>
        </div>
      )}
    </div>
  );
}
