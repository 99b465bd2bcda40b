import type { Finding } from '../../../protocol/report-api.js';
import { describeEntry, findingImpact, findingPlace } from '../../../report/report-phrases.js';
import { ActionButton } from '../../components/action-button.js';
import type { Permission } from '../../lib/permissions.js';

/**
 * What Ferry found by itself, each with its suggested (or confirmed) impact,
 * where, and each host's part with the line it saw; a finding not confirmed
 * yet may be confirmed as a note.
 */
export function ReportFindings({
  findings,
  mayNote,
  onConfirm,
}: {
  findings: readonly Finding[];
  mayNote: Permission;
  onConfirm: (finding: Finding) => void;
}) {
  return (
    <section class="panel" aria-labelledby="findings-title">
      <h2 id="findings-title">Findings</h2>
      {findings.length === 0 ? (
        <p class="muted">Ferry found nothing to say.</p>
      ) : (
        <ol class="findings">
          {findings.map((finding) => (
            <li
              key={finding.key}
              class="panel finding"
              data-testid="finding"
              data-key={finding.key}
              data-kind={finding.kind}
            >
              <h3>{finding.title}</h3>
              <p class="muted">
                {finding.kind} · {findingImpact(finding)} · {findingPlace(finding)}
              </p>
              <ul>
                {finding.entries.map((entry, index) => (
                  <li key={index}>
                    {describeEntry(entry)}
                    {entry.quote !== null && <pre class="quote">{entry.quote}</pre>}
                  </li>
                ))}
              </ul>
              {finding.confirmedBy === null && (
                <ActionButton permission={mayNote} onClick={() => onConfirm(finding)}>
                  Confirm as a note
                </ActionButton>
              )}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
