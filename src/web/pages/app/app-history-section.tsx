import type { DeploymentRecord, HistoryEntry } from '../../../protocol/deployment-api.js';
import { RelTime } from '../../components/rel-time.js';
import { StateBadge } from '../../components/state-badge.js';
import { DataTable } from '../../components/data-table.js';

/** Every change of the app's verdicts, newest first, with who, when and the note. */
export function VerdictHistory({ history }: { history: readonly HistoryEntry[] }) {
  const verdicts = history.filter((entry) => entry.type === 'verdict');
  return (
    <section aria-labelledby="verdicts-title">
      <h2 id="verdicts-title">Verdict history</h2>
      {verdicts.length === 0 ? (
        <p class="muted">No bundle was marked yet.</p>
      ) : (
        <ul class="events" data-testid="verdict-history">
          {verdicts.map((entry, index) => (
            <li key={`${entry.at}-${index}`}>
              <span class="when">
                <RelTime at={entry.at} />
              </span>
              <span>v{entry.version}</span>
              <StateBadge state={entry.detail} />
              <span>by {entry.by}</span>
              {entry.note && <span class="note-text">“{entry.note}”</span>}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** The app's deployments, newest first, each linking to its page. */
export function DeploymentList({ deployments }: { deployments: readonly DeploymentRecord[] }) {
  return (
    <section aria-labelledby="deployments-title">
      <h2 id="deployments-title">Deployments</h2>
      {deployments.length === 0 ? (
        <p class="muted">None yet.</p>
      ) : (
        <DataTable
          columns={['Deployment', 'Environment', 'Kind', 'State', 'By', 'Started']}
          testId="deployments"
        >
          {deployments.map((d) => (
            <tr key={d.id}>
              <td>
                <a href={`/deployments/${encodeURIComponent(d.id)}`}>
                  v{d.version} ({d.id})
                </a>
              </td>
              <td>{d.env}</td>
              <td>{d.kind}</td>
              <td>
                <StateBadge state={d.state} />
                {d.error && <div class="muted note-text">{d.error}</div>}
              </td>
              <td>{d.createdBy}</td>
              <td>
                <RelTime at={d.createdAt} />
              </td>
            </tr>
          ))}
        </DataTable>
      )}
    </section>
  );
}
