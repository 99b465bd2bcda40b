import type { Report } from '../../../protocol/report-api.js';
import {
  bundleName,
  describeLeadTime,
  stopPhrase,
  summaryCounts,
  tallyParts,
} from '../../../report/report-phrases.js';
import { PhraseText } from '../../components/phrase-text.js';
import { RelTime } from '../../components/rel-time.js';
import { StateBadge } from '../../components/state-badge.js';
import { formatBytes } from '../../lib/hosts-model.js';
import { DataTable } from '../../components/data-table.js';

/** The report's top: its headline and blockers, the bundles, each bundle's path, and the tallies. */
export function ReportSummary({ report }: { report: Report }) {
  const { summary } = report;
  return (
    <>
      <p class="headline" data-testid="report-headline">
        {summary.headline}
      </p>
      {summary.blockers.length > 0 && (
        <ul class="blockers" data-testid="report-blockers">
          {summary.blockers.map((blocker, index) => (
            <li key={index}>
              <span aria-hidden="true">✗</span> {blocker}
            </li>
          ))}
        </ul>
      )}
      <p class="muted">
        {summaryCounts(summary)} · made <RelTime at={report.generatedAt} />
      </p>

      <section class="panel" aria-labelledby="bundles-title">
        <h2 id="bundles-title">Bundles</h2>
        <DataTable
          columns={['Bundle', 'Label', 'Commit', 'Pushed', 'Size', 'Verdict']}
          testId="report-bundles"
        >
          {report.bundles.map((bundle) => (
            <tr key={`${bundle.app}@${bundle.version}`}>
              <th scope="row">
                <a href={`/apps/${encodeURIComponent(bundle.app)}`}>
                  {bundleName(bundle.app, bundle.version)}
                </a>
              </th>
              <td>{bundle.label ?? <span class="muted">—</span>}</td>
              <td>
                {bundle.commit === null ? (
                  <span class="muted">—</span>
                ) : (
                  <code title={bundle.commit}>{bundle.commit.slice(0, 12)}</code>
                )}
              </td>
              <td>
                {bundle.pushedBy}, <RelTime at={bundle.pushedAt} />
              </td>
              <td>{formatBytes(bundle.sizeBytes)}</td>
              <td>
                <StateBadge state={bundle.verdict.state} />
                {bundle.verdict.by !== null && <span class="muted"> by {bundle.verdict.by}</span>}
                {bundle.verdict.note && <div class="note-text">{bundle.verdict.note}</div>}
              </td>
            </tr>
          ))}
        </DataTable>
      </section>

      <section class="panel" aria-labelledby="path-title">
        <h2 id="path-title">Path</h2>
        {summary.paths.map((path) => (
          <div key={`${path.app}@${path.version}`}>
            <h3>
              {bundleName(path.app, path.version)}{' '}
              <span class="muted">· {describeLeadTime(path.leadTimeMs)}</span>
            </h3>
            <ol>
              {path.stops.map((stop, index) => (
                <li key={index} data-testid="path-stop">
                  <PhraseText phrase={stopPhrase(stop)} />
                </li>
              ))}
            </ol>
          </div>
        ))}
      </section>

      <section class="panel" aria-labelledby="tallies-title">
        <h2 id="tallies-title">By environment</h2>
        {summary.tallies.length === 0 ? (
          <p class="muted">Not deployed anywhere yet.</p>
        ) : (
          <ul data-testid="report-tallies">
            {summary.tallies.map((tally) => (
              <li key={`${tally.env}/${tally.app}`}>
                <strong>{tally.env}</strong> ({bundleName(tally.app, tally.version)}):{' '}
                {tallyParts(tally).join(' · ')}
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
