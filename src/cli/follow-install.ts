import type { InstallRecord } from '../protocol/api.js';
import type { FerryEvent } from '../protocol/events.js';
import { type InstallState, isFinalInstall } from '../protocol/lifecycle.js';
import type { ApiClient } from './api-client.js';
import { printable, printJson } from './output.js';

/** How long an install may wait in its host's queue before the follower says why. */
const QUEUED_NOTICE_MS = 5000;

/**
 * `ferry install` without `--detach`: opens the host's event stream first,
 * then asks for the install, so that every step it makes arrives on the
 * stream (nothing is asked again while it runs); prints a line as each step
 * starts and ends, and a summary from the install's record, read once at the
 * end. When the stream drops and is made again, the record is read once too:
 * the stream resumes "from now", and the install may have ended meanwhile.
 * Returns the exit code: 0 only when the install succeeded.
 *
 * @example
 *   process.exitCode = await followInstall(api, { app: 'hello', version: 3, host: 'web-1' }, {});
 */
export async function followInstall(
  api: ApiClient,
  request: { app: string; version: number; host: string },
  options: { json?: boolean | undefined },
): Promise<number> {
  const ref = `${request.app}@${request.version}`;
  const say = (line: string) => {
    if (!options.json) process.stdout.write(`${printable(line)}\n`);
  };
  const shown = new Map<string, string>();
  const showStep = (step: string, line: string) => {
    if (shown.get(step) === line) return;
    say(line);
    shown.set(step, line);
  };

  let install: InstallRecord | undefined;
  let state: InstallState | undefined;
  let failure: Error | undefined;
  let notice: NodeJS.Timeout | undefined;
  /** Events heard before the server's answer named the install. */
  const early: FerryEvent[] = [];
  const stop = new AbortController();

  /** One event of the host; false once the install has ended. */
  const apply = (event: FerryEvent): boolean => {
    if (!install) return true;
    if (event.kind === 'install.step' && event.data.installId === install.id) {
      const { step, durationMs } = event.data;
      showStep(
        step,
        event.data.state === 'running'
          ? `  ${step} ...`
          : `  ${step} ${event.data.state === 'succeeded' ? 'ok' : 'FAILED'} (${durationMs ?? 0} ms)`,
      );
    }
    if (event.kind === 'install.state' && event.data.installId === install.id)
      state = event.data.state as InstallState;
    return state === undefined || !isFinalInstall(state);
  };

  const create = async (): Promise<void> => {
    install = await api.createInstall(request);
    state = install.state;
    say(`install ${install.id}: ${ref} on ${install.host}`);
    for (const event of early.splice(0)) if (!apply(event)) break;
    if (isFinalInstall(state)) return stop.abort();
    // Said once, and only a say: a host list that cannot be read is no reason to stop following.
    notice = setTimeout(() => void queuedNotice().catch(() => undefined), QUEUED_NOTICE_MS);
  };
  const queuedNotice = async (): Promise<void> => {
    if (state !== 'queued' || !install) return;
    const host = (await api.hosts()).find((h) => h.name === install?.host);
    say(
      host?.connected
        ? `  queued: ${install.host} has not started it yet`
        : `  queued: ${install.host} is offline; it gets the install when it reconnects (Ctrl-C stops following, not the install)`,
    );
  };

  /**
   * The stream is back after a drop: it carries what happens from now on, so
   * an end recorded while it was away is read from the install's record, once.
   */
  const reread = async (): Promise<void> => {
    if (!install) return; // Not made yet: the answer that makes it is newer than the drop.
    const now = await api.install(install.id);
    if (isFinalInstall(now.state)) {
      state = now.state;
      stop.abort();
    }
  };

  let asked = false;
  try {
    await api.followEvents(
      { host: request.host, kinds: ['install.state', 'install.step'] },
      undefined,
      (event) => {
        if (!install) {
          early.push(event);
          return true;
        }
        return apply(event);
      },
      {
        signal: stop.signal,
        // Subscribed: whatever the install does from now on comes on this stream.
        onOpen: () => {
          if (asked) {
            // A reading that fails is no reason to stop: the stream goes on.
            reread().catch(() => undefined);
            return;
          }
          asked = true;
          create().catch((err: unknown) => {
            failure = err instanceof Error ? err : new Error(String(err));
            stop.abort();
          });
        },
      },
    );
  } finally {
    clearTimeout(notice);
  }
  if (failure !== undefined) throw failure;
  if (!install) throw new Error('the event stream ended before the install was made');

  // Its whole record once, for the summary (the error, whether it was rolled back).
  const record = await api.install(install.id);
  if (options.json) printJson(record);
  if (record.state === 'succeeded') {
    say(`succeeded: ${record.host} runs ${ref}`);
    return 0;
  }
  say(
    `${record.state}: ${record.error ?? 'unknown error'}${record.rolledBack ? ' (rolled back to the previous release)' : ''}`,
  );
  say(`logs: ferry logs ${record.id}`);
  return 1;
}
