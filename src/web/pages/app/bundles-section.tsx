import type {
  BundleRecord,
  EnvironmentRecord,
  Session,
  Verdict,
  VerdictState,
} from '../../../protocol/api.js';
import { ActionButton } from '../../components/action-button.js';
import { RelTime } from '../../components/rel-time.js';
import { StateBadge } from '../../components/state-badge.js';
import type { PromotionTarget } from '../../lib/app-records.js';
import { mayCall, mayPromote, type Permission } from '../../lib/permissions.js';
import { DataTable } from '../../components/data-table.js';

/** An app's bundles, newest first, each with its verdict and the actions on it. */
export function BundlesSection({
  app,
  session,
  bundles,
  verdicts,
  environments,
  targetOf,
  onMark,
  onPromote,
}: {
  app: string;
  session: Session;
  bundles: readonly BundleRecord[];
  verdicts: ReadonlyMap<number, VerdictState>;
  environments: readonly EnvironmentRecord[];
  targetOf: (version: number) => PromotionTarget;
  onMark: (version: number, verdict: Verdict) => void;
  onPromote: (version: number, env: string) => void;
}) {
  const mayMark = mayCall('markVerdict', session);
  return (
    <section aria-labelledby="bundles-title">
      <h2 id="bundles-title">Bundles</h2>
      {bundles.length === 0 ? (
        <p class="muted">No bundle yet.</p>
      ) : (
        <DataTable
          columns={['Version', 'Label', 'Commit', 'Pushed', 'Signed by', 'Verdict', 'Actions']}
          testId="bundles"
        >
          {bundles.map((bundle) => {
            const target = targetOf(bundle.version);
            return (
              <tr key={bundle.version} data-version={bundle.version}>
                <th scope="row">
                  <a href={`/reports/${app}/${bundle.version}`}>v{bundle.version}</a>
                </th>
                <td class="label">{bundle.label ?? <span class="muted">—</span>}</td>
                <td>
                  {bundle.commit ? (
                    <code title={bundle.commit}>
                      {bundle.commit.slice(0, 10)}
                      {bundle.dirty ? ' (dirty)' : ''}
                    </code>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
                <td>
                  {bundle.pushedBy}, <RelTime at={bundle.pushedAt} />
                </td>
                <td class="signed" title={signatureTitle(bundle)}>
                  {signers(bundle)}
                </td>
                <td>
                  <StateBadge state={verdicts.get(bundle.version) ?? 'pending'} />
                </td>
                <td>
                  <div class="actions">
                    <ActionButton
                      permission={mayMark}
                      onClick={() => onMark(bundle.version, 'passed')}
                      testId="mark-passed"
                    >
                      Mark passed…
                    </ActionButton>
                    <ActionButton
                      permission={mayMark}
                      onClick={() => onMark(bundle.version, 'failed')}
                      testId="mark-failed"
                    >
                      Mark failed…
                    </ActionButton>
                    <ActionButton
                      permission={promotePermission(
                        session,
                        target,
                        environments,
                        verdicts.get(bundle.version) ?? 'pending',
                      )}
                      onClick={() => target.env && onPromote(bundle.version, target.env)}
                      kind="primary"
                      testId="promote"
                    >
                      {target.env ? `Promote to ${target.env}…` : 'Promote…'}
                    </ActionButton>
                    <a href={`/reports/${app}/${bundle.version}`}>Report</a>
                  </div>
                </td>
              </tr>
            );
          })}
        </DataTable>
      )}
    </section>
  );
}

/** Whether the person may promote to the target: the role first, then the environment's rules. */
function promotePermission(
  session: Session,
  target: PromotionTarget,
  environments: readonly EnvironmentRecord[],
  verdict: VerdictState,
): Permission {
  const byRole = mayCall('promote', session);
  if (!byRole.allowed) return byRole;
  if (target.env === null) return { allowed: false, reason: target.reason };
  const env = environments.find((e) => e.name === target.env);
  return env ? mayPromote(session, env, verdict) : byRole;
}

/**
 * Who signed a bundle: the server, then developers by name (or fingerprint).
 * A signature the server did not find to hold names no one: it reads "not
 * verified".
 */
function signers(bundle: BundleRecord): string {
  if (bundle.signatures.length === 0) return 'not signed';
  return bundle.signatures
    .map((s) => {
      const who = s.by === 'server' ? 'server' : (s.name ?? s.keyId);
      return s.verified === true ? who : `${s.by === 'server' ? 'server' : s.keyId} (not verified)`;
    })
    .join(', ');
}

/** Each signature's key fingerprint, and why one is not verified, for the cell's tooltip. */
function signatureTitle(bundle: BundleRecord): string {
  return bundle.signatures
    .map(
      (s) =>
        `${s.by === 'server' ? 'server' : (s.name ?? 'developer')}: ${s.keyId}` +
        (s.verified === true
          ? ''
          : ` — not verified: ${s.problem ?? 'the server did not check it'}`),
    )
    .join('\n');
}
