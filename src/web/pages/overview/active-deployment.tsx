import { useEffect, useRef, useState } from 'preact/hooks';
import type { FerryEvent } from '../../../protocol/events.js';
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
 * fetched again only when events may have been missed. Events that come
 * while the record is fetched are held and applied on top of it, as the
 * deployment's page does: the record may have been read before them.
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
  /** Where events go while a fetch of the record is under way (until its answer is applied). */
  const held = useRef<FerryEvent[] | null>(null);
  const [progress, setProgress] = useState<DeploymentProgress | undefined>(undefined);
  const record = useResource(
    async (signal) => {
      const events: FerryEvent[] = [];
      held.current = events;
      try {
        return { deployment: await api.call('deployment', { params: { id } }, { signal }), events };
      } catch (err) {
        // No record to apply them to: they go on what is shown.
        if (held.current === events) held.current = null;
        setProgress((current) => events.reduce(applyOn, current));
        throw err;
      }
    },
    [id],
  );
  useEffect(() => {
    if (!record.data) return;
    const { deployment, events } = record.data;
    // Events held until now (the answer's render included) go on top of the record.
    setProgress(events.reduce(applyOn, progressOf(deployment)));
    if (held.current === events) held.current = null;
  }, [record.data]);
  useLiveEvents({ deploymentId: id, kinds: ['install.state', 'deployment.state'] }, (event) => {
    if (held.current !== null) held.current.push(event);
    else setProgress((current) => applyOn(current, event));
  });

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

function applyOn(
  progress: DeploymentProgress | undefined,
  event: FerryEvent,
): DeploymentProgress | undefined {
  return progress ? applyEvent(progress, event) : progress;
}
