import { useEffect, useState } from 'preact/hooks';
import type { InstallLogs } from '../../protocol/api.js';
import { api } from '../api/ferry-api.js';
import { isSignedOutError, sessionEnded } from '../api/session.js';
import { ErrorBox } from './error-box.js';
import { StepLogs } from './step-logs.js';

/**
 * The output of one step of an install (`GET /installs/:id/logs`), fetched
 * when opened and again when `version` changes (the step ended, so its output
 * may have grown). A step that ran more than once shows its last run.
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
  }, [installId, version]);

  if (error !== undefined) return <ErrorBox error={error} title="The step's output:" />;
  if (logs === undefined) {
    return (
      <p class="muted" aria-busy="true">
        Loading the output of {step}…
      </p>
    );
  }
  const found = [...logs.steps].reverse().find((s) => s.step === step);
  if (!found) return <p class="muted">{step} has no output recorded yet.</p>;
  return <StepLogs step={found} host={host} />;
}
