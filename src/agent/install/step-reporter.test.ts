import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../protocol/messages.js';
import type { AgentTransport } from '../../transport/transport.js';
import { SECRET_MASK, StepReporter } from './step-reporter.js';

/** A transport that only keeps what the reporter emits. */
function recordingTransport(): AgentTransport & { events: AgentEvent[] } {
  const events: AgentEvent[] = [];
  return {
    events,
    start: () => undefined,
    emit: (event) => events.push(event),
    drain: () => Promise.resolve(),
    onConnection: () => undefined,
    close: () => Promise.resolve(),
  };
}

/** Everything a step's events carry as text: output pieces and errors. */
function reported(events: AgentEvent[]): string {
  return events
    .map((e) =>
      e.type === 'step.output'
        ? e.text
        : e.type === 'step.finished' || e.type === 'job.finished'
          ? (e.error ?? '')
          : '',
    )
    .join('');
}

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(path.join(os.tmpdir(), 'ferry-steps-'));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe('StepReporter masks secrets', () => {
  const secret = 'hunter2-very-secret';
  const env = { PATH: '/usr/bin:/bin' };

  it('in the echoed command, its output, and the error of a failed command', async () => {
    const transport = recordingTransport();
    const steps = new StepReporter(transport, 'job-1');
    steps.maskSecrets([secret, '']);
    const outcome = await steps.step('install', async (context) => {
      // As a filled manifest command would, this one holds the secret; it also
      // prints it in two pieces with a pause between, so that it arrives split
      // across two reads of the pipe.
      await context.run(
        `echo ${secret} >&2; printf 'pass=hunter' && sleep 0.2 && printf '2-very-secret\\n' && exit 3`,
        { cwd, env, timeoutMs: 10_000 },
      );
    });
    steps.emit({
      type: 'job.finished',
      jobId: 'job-1',
      ok: false,
      rolledBack: false,
      error: `failed: ${secret}`,
    });

    expect(outcome.ok).toBe(false);
    expect(outcome.error).toContain(`echo ${SECRET_MASK}`);
    const text = reported(transport.events);
    expect(text).not.toContain(secret);
    expect(text).toContain(`$ echo ${SECRET_MASK} >&2;`);
    expect(text).toContain(`pass=${SECRET_MASK}\n`);
    expect(text).toContain(`failed: ${SECRET_MASK}`);
  });

  // A multi-line secret, as a PEM key is.
  const pem = [
    '-----BEGIN PRIVATE KEY-----',
    'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj',
    'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu',
    '-----END PRIVATE KEY-----',
  ].join('\n');

  it('across line breaks and across writes, in stdout and stderr, printed whole or line by line', async () => {
    const transport = recordingTransport();
    const steps = new StepReporter(transport, 'job-pem');
    steps.maskSecrets([pem]);
    const outcome = await steps.step('install', async (context) => {
      // Whole, one line per write with pauses between; on stderr, each line
      // with a prefix (so never the whole value in one place); and split
      // inside a line across two writes.
      await context.run(
        [
          'printf "%s\\n" "$KEY" | while IFS= read -r line; do printf "%s\\n" "$line"; sleep 0.05; done',
          'printf "%s\\n" "$KEY" | sed "s/^/key: /" >&2',
          'printf "%s" "$KEY" | head -c 40; sleep 0.2; printf "%s\\n" "$KEY" | tail -c +41',
        ].join('; '),
        { cwd, env: { ...env, KEY: pem }, timeoutMs: 10_000 },
      );
      context.err(pem.slice(0, 10));
      context.err(`${pem.slice(10)}\n`);
    });
    expect(outcome).toEqual({ ok: true, error: null });
    const text = reported(transport.events);
    for (const line of pem.split('\n')) expect(text).not.toContain(line);
    expect(text).toContain(SECRET_MASK);
    expect(text).toContain(`key: ${SECRET_MASK}`);
  });

  it('leaves output alone when there is nothing to mask', async () => {
    const transport = recordingTransport();
    const steps = new StepReporter(transport, 'job-2');
    await steps.step('install', (context) => {
      context.out('partial line without newline');
      return Promise.resolve();
    });
    expect(reported(transport.events)).toBe('partial line without newline');
  });
});

describe('StepReporter sends output', () => {
  it('in numbered pieces of at most 64 Ki characters that add up to the whole', async () => {
    const transport = recordingTransport();
    const steps = new StepReporter(transport, 'job-4');
    const text = 'abcdefghij'.repeat(20_000) + 'end';
    await steps.step('install', (context) => {
      context.out(text);
      return Promise.resolve();
    });
    const pieces = transport.events.flatMap((e) => (e.type === 'step.output' ? [e] : []));
    expect(pieces.map((p) => p.seq)).toEqual([0, 1, 2, 3]);
    expect(Math.max(...pieces.map((p) => p.text.length))).toBe(64 * 1024);
    expect(pieces.map((p) => p.text).join('')).toBe(text);
  });
});

describe('StepReporter gathers output', () => {
  it('sends lines written together as one piece, and keeps the order of the two streams', async () => {
    const transport = recordingTransport();
    const steps = new StepReporter(transport, 'job-5');
    await steps.step('install', (context) => {
      for (let i = 0; i < 50; i++) context.out(`line ${i}\n`);
      context.err('a warning\n');
      context.out('last\n');
      return Promise.resolve();
    });
    const pieces = transport.events.flatMap((e) => (e.type === 'step.output' ? [e] : []));
    expect(pieces.map((p) => [p.stream, p.seq])).toEqual([
      ['stdout', 0],
      ['stderr', 0],
      ['stdout', 1],
    ]);
    expect(pieces[0]!.text).toBe(Array.from({ length: 50 }, (_, i) => `line ${i}\n`).join(''));
    // Each piece is sent before the step's end is.
    expect(transport.events.at(-1)!.type).toBe('step.finished');
  });

  it('sends what a long step wrote while it still runs', async () => {
    const transport = recordingTransport();
    const steps = new StepReporter(transport, 'job-6');
    let seenWhileRunning: string[] = [];
    await steps.step('install', async (context) => {
      context.out('downloading\n');
      await new Promise((resolve) => setTimeout(resolve, 300));
      seenWhileRunning = transport.events.flatMap((e) =>
        e.type === 'step.output' ? [e.text] : [],
      );
    });
    expect(seenWhileRunning).toEqual(['downloading\n']);
  });
});

describe('StepReporter runs commands', () => {
  const env = { PATH: '/usr/bin:/bin' };

  it('ends a step whose command outlives its timeout, even when the group is already gone', async () => {
    const transport = recordingTransport();
    const steps = new StepReporter(transport, 'job-2');
    const started = Date.now();
    // The daemon leaves the command's process group (setsid) and keeps the output
    // pipes open; the shell itself waits past the timeout.
    const outcome = await steps.step('install', (context) =>
      context.run('setsid sleep 8 & exec sleep 30', { cwd, env, timeoutMs: 300 }),
    );
    expect(outcome.ok).toBe(false);
    expect(outcome.error).toContain('was killed after its timeout of 0.3 s');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(reported(transport.events)).toContain('timed out after 300 ms');
  });

  it('ends a step whose command exits while a daemon it started still holds its output', async () => {
    const transport = recordingTransport();
    const steps = new StepReporter(transport, 'job-3');
    const started = Date.now();
    const outcome = await steps.step('after-start', (context) =>
      context.run('setsid sleep 8 & echo started', { cwd, env, timeoutMs: 60_000 }),
    );
    expect(outcome).toEqual({ ok: true, error: null });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(reported(transport.events)).toContain('started');
  });
});
