import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { FerryEvent } from '../../protocol/events.js';
import { api } from '../api/ferry-api.js';
import { isSignedOutError, sessionEnded } from '../api/session.js';
import { useLiveEvents, useResync } from '../api/use-live.js';
import { DeploymentHeader } from '../components/deployment-header.js';
import { ErrorBox } from '../components/error-box.js';
import { InstallRow } from '../components/install-row.js';
import { useTitle } from '../components/use-title.js';
import {
  applyDeploymentEvent,
  deploymentProgress,
  type DeploymentView,
  deploymentView,
  groupByBatch,
  isFailedInstall,
  mergeInstallSteps,
} from '../lib/deployment-model.js';
import { TaskQueue } from '../lib/task-queue.js';
import type { PageProps } from '../router/page-route.js';

/**
 * A deployment, host by host and step by step, live: the record is fetched
 * once, then each of the deployment's events is applied to it (fetched again
 * only when events may have been missed); each host's earlier steps are
 * fetched as its row comes into view. A step opens its stdout and stderr
 * beneath; which one is open is kept in the address (`?install=…&step=…`).
 */
export function DeploymentPage({ params, search }: PageProps<'/deployments/:id'>) {
  const id = params.id;
  const [view, setView] = useState<DeploymentView | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [open, setOpen] = useState(() => openStepOf(search));
  const [logsVersion, setLogsVersion] = useState(0);
  const [failedFirst, setFailedFirst] = useState(true);
  const [onlyFailed, setOnlyFailed] = useState(false);
  const [hostText, setHostText] = useState('');
  /** Events that came while the record was being fetched: applied on top of it. */
  const held = useRef<FerryEvent[] | null>(null);
  const openRef = useRef(open);
  openRef.current = open;

  useTitle(view ? `${view.record.app}@${view.record.version} to ${view.record.env}` : 'Deployment');

  const steps = useMemo(
    () =>
      new TaskQueue(4, (installId, err) => {
        if (isSignedOutError(err)) sessionEnded();
        else console.error(`The steps of ${installId} could not be fetched:`, err);
      }),
    [id],
  );
  useEffect(() => () => steps.stop(), [steps]);

  /** One fetch of the record at a time; a resync asked meanwhile fetches again after it. */
  const fetching = useRef<{ again: boolean } | null>(null);
  const fetchRecord = useCallback(
    async (signal?: AbortSignal) => {
      if (fetching.current) {
        fetching.current.again = true;
        return;
      }
      const state = { again: false };
      fetching.current = state;
      held.current = [];
      try {
        const record = await api.call('deployment', { params: { id } }, { signal });
        const events = held.current;
        setView((previous) => {
          let next = deploymentView(record, previous);
          for (const event of events) next = applyDeploymentEvent(next, event);
          for (const install of next.installs)
            if (!install.complete) steps.forget(install.install.id);
          return next;
        });
        setError(undefined);
      } catch (err) {
        const events = held.current;
        setView((previous) => {
          let next = previous;
          for (const event of events) if (next) next = applyDeploymentEvent(next, event);
          return next;
        });
        if (isSignedOutError(err)) sessionEnded();
        else if (!signal?.aborted) setError(err);
      } finally {
        held.current = null;
        fetching.current = null;
        if (state.again && !signal?.aborted) void fetchRecord(signal);
      }
    },
    [id, steps],
  );

  useEffect(() => {
    const controller = new AbortController();
    void fetchRecord(controller.signal);
    return () => controller.abort();
  }, [fetchRecord]);
  useResync(() => void fetchRecord());

  useLiveEvents({ deploymentId: id }, (event) => {
    if (held.current !== null) {
      held.current.push(event);
      return;
    }
    setView((current) => (current ? applyDeploymentEvent(current, event) : current));
    // The open step ended (or ran again): its output is worth fetching again.
    const shown = openRef.current;
    if (
      event.kind === 'install.step' &&
      shown !== null &&
      event.data.installId === shown.installId &&
      event.data.step === shown.step &&
      event.data.state !== 'running'
    ) {
      setLogsVersion((n) => n + 1);
    }
  });

  // Back and forward change the address: the open step follows it.
  useEffect(() => setOpen(openStepOf(search)), [search]);

  const onStep = useCallback((installId: string, step: string) => {
    const current = openRef.current;
    const next =
      current?.installId === installId && current.step === step ? null : { installId, step };
    setOpen(next);
    const query = next
      ? `?install=${encodeURIComponent(next.installId)}&step=${encodeURIComponent(next.step)}`
      : '';
    // The address says what is open, without a new history entry or a jump to the top.
    history.replaceState(null, '', `${location.pathname}${query}`);
  }, []);

  const onNeedSteps = useCallback(
    (installId: string) =>
      steps.add(installId, async () => {
        const install = await api.call('install', { params: { id: installId } });
        setView((current) =>
          current ? mergeInstallSteps(current, installId, install.steps) : current,
        );
      }),
    [steps],
  );

  if (view === undefined) {
    return (
      <>
        <h1>Deployment {id}</h1>
        {error !== undefined ? (
          <ErrorBox error={error} />
        ) : (
          <p class="muted" aria-busy="true">
            Loading…
          </p>
        )}
      </>
    );
  }

  const progress = deploymentProgress(view);
  const failed = view.installs.filter((i) => isFailedInstall(i.install));
  const groups = groupByBatch(view, { failedFirst, onlyFailed, text: hostText });

  return (
    <>
      <DeploymentHeader view={view} progress={progress} />
      {error !== undefined && <ErrorBox error={error} title="Could not refresh:" />}
      {failed.length > 0 && (
        <div class="panel failed-hosts" data-testid="failed-hosts">
          <h2>
            <span aria-hidden="true">✗</span> {failed.length} host{failed.length === 1 ? '' : 's'}{' '}
            failed
          </h2>
          <ul>
            {failed.map(({ install }) => (
              <li key={install.id}>
                <a href={`#install-${install.id}`}>{install.host}</a>
                {install.step && ` — ${install.step.step} ${install.step.state}`}
                {install.error && `: ${install.error}`}
              </li>
            ))}
          </ul>
        </div>
      )}
      <div class="filters" role="group" aria-label="Which hosts to show">
        <label>
          Host
          <input
            type="search"
            value={hostText}
            placeholder="qa-1"
            onInput={(event) => setHostText(event.currentTarget.value)}
          />
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={failedFirst}
            onChange={(event) => setFailedFirst(event.currentTarget.checked)}
          />{' '}
          Failed hosts first
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={onlyFailed}
            onChange={(event) => setOnlyFailed(event.currentTarget.checked)}
          />{' '}
          Only failed hosts
        </label>
      </div>
      {groups.length === 0 && <p class="muted">No host matches.</p>}
      {groups.map((group) => (
        <section class="batch" key={group.key} aria-labelledby={`batch-${group.key}`}>
          <h2 id={`batch-${group.key}`}>
            {group.title}{' '}
            <span class="muted">
              · {group.installs.length} host{group.installs.length === 1 ? '' : 's'}
            </span>
          </h2>
          <ul class="install-list">
            {group.installs.map((install) => (
              <InstallRow
                key={install.install.id}
                view={install}
                openStep={open?.installId === install.install.id ? open.step : null}
                onStep={onStep}
                onNeedSteps={onNeedSteps}
                logsVersion={open?.installId === install.install.id ? logsVersion : 0}
              />
            ))}
          </ul>
        </section>
      ))}
    </>
  );
}

/** The open step the address names (`?install=inst_x&step=health`), if any. */
function openStepOf(search: string): { installId: string; step: string } | null {
  const query = new URLSearchParams(search);
  const installId = query.get('install');
  const step = query.get('step');
  return installId && step ? { installId, step } : null;
}
