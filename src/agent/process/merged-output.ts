import { readdir, readFile, readlink } from 'node:fs/promises';

/** How many processes of a service are looked at: its main process and descendants, breadth first. */
const MAX_PROCESSES = 32;

/**
 * Whether a running service's stdout and stderr go to the same place, so that
 * its errors end up inside its output log: true when, for its main process or
 * one of its descendants, file descriptors 1 and 2 are the same file, pipe or
 * socket (`/proc/<pid>/fd/1` and `/fd/2` name the same target). Null when
 * nothing could be read (the process is gone, or belongs to another user the
 * agent may not look into).
 *
 * Asking the processes, not the driver's configuration, finds every way it
 * happens: a supervisord program with `redirect_stderr=true` (supervisord
 * hands both descriptors one pipe), a systemd unit whose `StandardError=` a
 * drop-in changed to `inherit` or `journal` beside `StandardOutput=journal`,
 * and a command that says `2>&1`. Ferry's own drivers write separate outputs.
 * Both going to `/dev/null` is not counted: nothing ends up anywhere.
 *
 * @example
 *   const { pid } = await driver.status('cart');
 *   if (pid !== null) await mergedOutput(pid); // false: stdout and stderr in two files
 */
export async function mergedOutput(pid: number): Promise<boolean | null> {
  let readAny = false;
  for (const process of await processTree(pid)) {
    const [stdout, stderr] = await Promise.all([target(process, 1), target(process, 2)]);
    if (stdout === null || stderr === null) continue;
    readAny = true;
    if (stdout === stderr && stdout !== '/dev/null') return true;
  }
  return readAny ? false : null;
}

/** Where a process's file descriptor points (`/srv/app/out.log`, `pipe:[1234]`); null when unreadable. */
function target(pid: number, fd: number): Promise<string | null> {
  return readlink(`/proc/${pid}/fd/${fd}`).catch(() => null);
}

/** `pid` and its descendants, at most `MAX_PROCESSES`, from `/proc/<pid>/task/<tid>/children`. */
async function processTree(pid: number): Promise<number[]> {
  const found = [pid];
  for (let i = 0; i < found.length && found.length < MAX_PROCESSES; i++) {
    const parent = found[i]!;
    const tasks = await readdir(`/proc/${parent}/task`).catch(() => [] as string[]);
    for (const task of tasks) {
      const text = await readFile(`/proc/${parent}/task/${task}/children`, 'utf8').catch(() => '');
      for (const child of text.split(' ').filter(Boolean).map(Number)) {
        if (Number.isInteger(child) && !found.includes(child)) found.push(child);
      }
    }
  }
  return found.slice(0, MAX_PROCESSES);
}
