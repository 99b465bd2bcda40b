import { useEffect, useState } from 'preact/hooks';
import { api } from '../../api/ferry-api.js';
import { useLiveEvents } from '../../api/use-live.js';
import { useResource } from '../../api/use-resource.js';
import { ErrorBox } from '../../components/error-box.js';
import { StateBadge } from '../../components/state-badge.js';
import {
  applyEvent,
  countProgress,
  type DeploymentProgress,
  progressOf,
} from '../../lib/deployment-progress.js';

/**
 * One deployment under way, with its progress live: fetched once, then each
 * install's state applied from the event stream (no fetch per event);
 * fetched again only when events may have been missed.
 */
export function ActiveDeployment({
  id,
  app,
  env,
  version,
}: {
  id: string;
  app: string;
  env: string;
  version: number;
}) {
  const record = useResource(
    (signal) => api.call('deployment', { params: { id } }, { signal }),
    [id],
  );
  const [progress, setProgress] = useState<DeploymentProgress | undefined>(undefined);
  useEffect(() => {
    if (record.data) setProgress(progressOf(record.data));
  }, [record.data]);
  useLiveEvents({ deploymentId: id, kinds: ['install.state', 'deployment.state'] }, (event) =>
    setProgress((current) => (current ? applyEvent(current, event) : current)),
  );

  const counts = progress ? countProgress(progress) : undefined;
  return (
    <li class="progress-line" data-testid="active-deployment" data-deployment={id}>
      <a href={`/deployments/${encodeURIComponent(id)}`}>
        {app}@{version} → {env}
      </a>
      {progress && <StateBadge state={progress.state} />}
      {counts && (
        <>
          <progress
            max={Math.max(counts.total, 1)}
            value={counts.done}
            aria-label={`${app}@${version} to ${env}`}
          />
          <span data-testid="progress-words">
            {counts.done} of {counts.total} hosts done
            {counts.failed > 0 ? ` · ${counts.failed} failed` : ''}
          </span>
        </>
      )}
      {record.error !== undefined && <ErrorBox error={record.error} />}
    </li>
  );
}
