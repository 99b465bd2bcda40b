import { type DeploymentProgress, progressText } from '../lib/deployment-batches.js';
import type { DeploymentView } from '../lib/deployment-model.js';
import { RelTime } from './rel-time.js';
import { StateBadge } from './state-badge.js';

/**
 * The top of a deployment's page: what is deployed where, by whom, when and
 * how (its state, start, end and phase kept current by its events), and how
 * far it got in words ("7 of 100 hosts done · 1 failed") with a
 * progress bar.
 */
export function DeploymentHeader({
  view,
  progress,
}: {
  view: DeploymentView;
  progress: DeploymentProgress;
}) {
  const { record } = view;
  const { strategy } = record;
  const title =
    record.kind === 'rollback'
      ? `Rollback of ${record.app} in ${record.env} to v${record.version}`
      : `${record.app}@${record.version} to ${record.env}`;
  const ended = progress.done + progress.failed + progress.withdrawn;
  return (
    <header class="deployment-header">
      <h1>
        {title} <StateBadge state={record.state} label={record.state.replace(/_/g, ' ')} />
        {view.phase === 'reverting' && (
          <span class="muted" data-testid="deployment-phase">
            {' '}
            putting back the hosts already done
          </span>
        )}
      </h1>
      <dl class="facts" data-testid="deployment-facts">
        <div>
          <dt>App</dt>
          <dd>
            <a href={`/apps/${encodeURIComponent(record.app)}`}>{record.app}</a>
          </dd>
        </div>
        <div>
          <dt>Version</dt>
          <dd>
            v{record.version}{' '}
            <a href={`/reports/${encodeURIComponent(record.app)}/${record.version}`}>report</a>
            {record.fromVersion !== null && <span class="muted"> (was v{record.fromVersion})</span>}
          </dd>
        </div>
        <div>
          <dt>Environment</dt>
          <dd>{record.env}</dd>
        </div>
        <div>
          <dt>Kind</dt>
          <dd>{record.kind}</dd>
        </div>
        <div>
          <dt>By</dt>
          <dd>
            {record.createdBy}
            {record.triggeredBy !== null && (
              <span class="muted"> (set off by {record.triggeredBy})</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>
            <RelTime at={record.startedAt ?? record.createdAt} />
          </dd>
        </div>
        {record.finishedAt !== null && (
          <div>
            <dt>Finished</dt>
            <dd>
              <RelTime at={record.finishedAt} />
            </dd>
          </div>
        )}
        <div>
          <dt>Strategy</dt>
          <dd>
            batches of {String(strategy.batch)} · max failures {strategy.maxFailures} · roll back on
            failure: {strategy.rollbackOnFailure ? 'yes' : 'no'} · offline timeout{' '}
            {strategy.offlineTimeout}
          </dd>
        </div>
        {record.migratedOn !== null && (
          <div>
            <dt>Migrations</dt>
            <dd>ran on {record.migratedOn}</dd>
          </div>
        )}
      </dl>
      {record.error !== null && (
        <p class="deployment-error" data-testid="deployment-error">
          {record.error}
        </p>
      )}
      <p class="progress-line" data-testid="deployment-progress" aria-live="polite">
        {progressText(progress)}
      </p>
      <progress
        max={Math.max(progress.hosts, 1)}
        value={ended}
        aria-label={`${ended} of ${progress.hosts} hosts ended`}
      />
    </header>
  );
}
