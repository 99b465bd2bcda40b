import { memo } from 'preact/compat';
import { useEffect, useRef } from 'preact/hooks';
import { formatDuration } from '../lib/durations.js';
import { type InstallView, isFailedInstall } from '../lib/deployment-model.js';
import { InstallStepLogs } from './install-step-logs.js';
import { StateBadge } from './state-badge.js';

/** Which step's output is open: an install's step, by name and its place among the install's steps. */
export interface OpenStep {
  installId: string;
  step: string;
}

interface InstallRowProps {
  view: InstallView;
  /** The step of this install whose output is open, if any. */
  openStep: string | null;
  /** Opens (or, for the open one, closes) a step's output. */
  onStep: (installId: string, step: string) => void;
  /** Called once the row is in view, for an install whose steps are not all known yet. */
  onNeedSteps: (installId: string) => void;
  /** Bumped when the open step's output may have grown (its step ended). */
  logsVersion: number;
}

/**
 * One host of a deployment: its state, what it goes from and to, why it
 * failed, and each of its steps with outcome and duration, as buttons that
 * open the step's output beneath. A failed host is marked by a word and a
 * border, not colour alone. Rendered again only when its install changed.
 */
export const InstallRow = memo(function InstallRow({
  view,
  openStep,
  onStep,
  onNeedSteps,
  logsVersion,
}: InstallRowProps) {
  const { install, steps, complete } = view;
  const row = useRef<HTMLLIElement>(null);
  const failed = isFailedInstall(install);

  useEffect(() => {
    if (complete || install.step === null) return;
    const element = row.current;
    if (!element) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        observer.disconnect();
        onNeedSteps(install.id);
      }
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [complete, install.id, install.step === null]);

  const label = install.rolledBack ? `${install.state}, rolled back on the host` : install.state;
  const purpose =
    install.purpose === 'deploy'
      ? null
      : install.purpose === 'revert'
        ? 'putting back'
        : install.purpose;
  return (
    <li
      ref={row}
      id={`install-${install.id}`}
      class={`install-row${failed ? ' install-failed' : ''}`}
      data-testid="install-row"
      data-host={install.host}
      data-state={install.state}
    >
      <div class="install-head">
        <a class="install-host" href={`/hosts/${encodeURIComponent(install.host)}`}>
          {install.host}
        </a>
        <StateBadge state={install.state} label={label} />
        <span class="muted">
          {install.fromVersion === null ? 'new' : `v${install.fromVersion}`} → v{install.version}
          {purpose && ` · ${purpose}`}
        </span>
      </div>
      {install.error && install.state !== 'succeeded' && (
        <p class="install-error" data-testid="install-error">
          {install.error}
        </p>
      )}
      {steps.length > 0 || !complete ? (
        <ol class="steps" aria-label={`Steps on ${install.host}`}>
          {!complete && (
            <li class="step-more muted" aria-live="polite">
              earlier steps…
            </li>
          )}
          {steps.map((step, index) => {
            const open = openStep === step.step && lastIndex(steps, step.step) === index;
            return (
              <li key={`${step.step}-${index}`}>
                <button
                  type="button"
                  class={`step step-${step.state}${open ? ' step-open' : ''}`}
                  data-testid="step"
                  data-step={step.step}
                  data-state={step.state}
                  aria-expanded={open}
                  aria-controls={open ? `logs-${install.id}` : undefined}
                  title={`${step.step}: ${step.state}${step.exitCode === null ? '' : `, exit code ${step.exitCode}`} — show its output`}
                  onClick={() => onStep(install.id, step.step)}
                >
                  <span aria-hidden="true">{symbolOf(step.state)}</span> {step.step}{' '}
                  <span class="step-word">{step.state}</span>
                  {step.durationMs !== null && (
                    <span class="step-time"> {formatDuration(step.durationMs)}</span>
                  )}
                </button>
              </li>
            );
          })}
        </ol>
      ) : (
        <p class="muted steps-none">No step has run yet.</p>
      )}
      {openStep !== null && (
        <div id={`logs-${install.id}`}>
          <InstallStepLogs
            installId={install.id}
            host={install.host}
            step={openStep}
            version={logsVersion}
          />
        </div>
      )}
    </li>
  );
});

function symbolOf(state: string): string {
  return state === 'succeeded' ? '✓' : state === 'failed' ? '✗' : '↻';
}

function lastIndex(steps: InstallView['steps'], name: string): number {
  for (let i = steps.length - 1; i >= 0; i--) if (steps[i]!.step === name) return i;
  return -1;
}
