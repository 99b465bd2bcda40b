import { useState } from 'preact/hooks';
import type { StepLog } from '../../protocol/api.js';
import { countLines, formatDuration } from '../lib/durations.js';
import { LogPane } from './log-pane.js';
import { StateBadge } from './state-badge.js';

type Stream = 'stdout' | 'stderr';
const STREAMS: readonly Stream[] = ['stdout', 'stderr'];

let nextId = 0;

/**
 * One step's output: its outcome, exit code and duration, then stdout and
 * stderr in separate panes behind tabs (a failed step opens on stderr when it
 * wrote any). Both panes stay mounted, so each keeps its search and scroll.
 */
export function StepLogs({ step, host }: { step: StepLog; host: string }) {
  const [id] = useState(() => `step-logs-${++nextId}`);
  const [tab, setTab] = useState<Stream>(
    step.state === 'failed' && step.stderr !== '' ? 'stderr' : 'stdout',
  );
  const select = (stream: Stream, focus: boolean) => {
    setTab(stream);
    if (focus) document.getElementById(`${id}-${stream}-tab`)?.focus();
  };
  return (
    <section class="step-logs" aria-labelledby={`${id}-title`} data-testid="step-logs">
      <header class="step-logs-header">
        <h3 id={`${id}-title`}>
          {host} · {step.step}
        </h3>
        <StateBadge state={step.state ?? 'unknown'} label={step.state ?? 'not run'} />
        <span class="step-logs-fact">
          exit code {step.exitCode === null ? '—' : String(step.exitCode)}
        </span>
        <span class="step-logs-fact">{formatDuration(step.durationMs)}</span>
      </header>
      <div class="tabs" role="tablist" aria-label={`Output of ${step.step}`}>
        {STREAMS.map((stream) => (
          <button
            type="button"
            role="tab"
            key={stream}
            id={`${id}-${stream}-tab`}
            aria-selected={tab === stream}
            aria-controls={`${id}-${stream}`}
            tabIndex={tab === stream ? 0 : -1}
            onClick={() => select(stream, false)}
            onKeyDown={(event) => {
              if (event.key === 'ArrowRight' || event.key === 'ArrowLeft') {
                event.preventDefault();
                select(stream === 'stdout' ? 'stderr' : 'stdout', true);
              }
            }}
          >
            {stream} · {countLines(step[stream])} lines
          </button>
        ))}
      </div>
      {STREAMS.map((stream) => (
        <div
          role="tabpanel"
          key={stream}
          id={`${id}-${stream}`}
          aria-labelledby={`${id}-${stream}-tab`}
          hidden={tab !== stream}
        >
          <LogPane text={step[stream]} label={stream} />
        </div>
      ))}
    </section>
  );
}
