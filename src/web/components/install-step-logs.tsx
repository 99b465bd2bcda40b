import { useEffect, useState } from 'preact/hooks';
import type { InstallLogs } from '../../protocol/api.js';
import { api } from '../api/ferry-api.js';
import { isSignedOutError, sessionEnded } from '../api/session.js';
import { ErrorBox } from './error-box.js';
import { StepLogs } from './step-logs.js';

/**
 * The output of one step of an install (`GET /installs/:id/logs`), fetched
 * when opened and again when `version` changes (the step ended, so its output
 * may have grown). The answer holds every step of the install; another step
 * opened after it is shown from it only when it had ended by then, else
 * fetched again. A step that ran more than once shows its last run.
 */
export function InstallStepLogs({
  installId,
  host,
  step,
  version,
}: {
  installId: string;
  host: string;
  step: string;
  version: number;
}) {
  const [logs, setLogs] = useState<InstallLogs | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  /** Bumped to fetch again: the step opened now was still running (or not begun) in the answer. */
  const [asked, setAsked] = useState(0);
  const found = logs && lastRun(logs, step);

  useEffect(() => {
    if (logs !== undefined && !hasEnded(found)) setAsked((n) => n + 1);
    // Only when another step is opened: a step that runs is fetched again when it ends (`version`).
  }, [step]);

  useEffect(() => {
    const controller = new AbortController();
    api
      .call('installLogs', { params: { id: installId } }, { signal: controller.signal })
      .then((answer) => {
        setLogs(answer);
        setError(undefined);
      })
      .catch((err: unknown) => {
        if (controller.signal.aborted) return;
        if (isSignedOutError(err)) return sessionEnded();
        setError(err);
      });
    return () => controller.abort();
  }, [installId, version, asked]);

  if (error !== undefined) return <ErrorBox error={error} title="The step's output:" />;
  if (logs === undefined) {
    return (
      <p class="muted" aria-busy="true">
        Loading the output of {step}…
      </p>
    );
  }
  if (!found) return <p class="muted">{step} has no output recorded yet.</p>;
  // Keyed by step: another step opens on its own tab, with its own search.
  return <StepLogs key={step} step={found} host={host} />;
}

function lastRun(logs: InstallLogs, step: string) {
  return [...logs.steps].reverse().find((s) => s.step === step);
}

function hasEnded(step: InstallLogs['steps'][number] | undefined): boolean {
  return step?.state === 'succeeded' || step?.state === 'failed';
}
