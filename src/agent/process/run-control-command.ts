import { execFile } from 'node:child_process';
import { FerryError } from '../../protocol/errors.js';

/** What a control command (`supervisorctl`, `systemctl`) printed and how it ended. */
export interface ControlCommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a service manager's control command and returns its exit code and
 * output whatever the exit code: `supervisorctl` and `systemctl` use non-zero
 * codes for ordinary answers ("not running"), so the caller decides what is a
 * failure. A missing program or a timeout is `E_PROCESS_DRIVER_FAILED`.
 *
 * @example
 *   const { exitCode, stdout } = await runControlCommand('systemctl', ['daemon-reload'], 30_000);
 */
export function runControlCommand(
  file: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<ControlCommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ exitCode: 0, stdout, stderr });
          return;
        }
        const command = [file, ...args].join(' ');
        if (typeof error.code === 'number') {
          resolve({ exitCode: error.code, stdout, stderr });
        } else if (error.killed) {
          reject(
            new FerryError(
              'E_PROCESS_DRIVER_FAILED',
              `${command} did not finish within ${timeoutMs} ms`,
              { command, stdout, stderr },
              { cause: error },
            ),
          );
        } else {
          reject(
            new FerryError(
              'E_PROCESS_DRIVER_FAILED',
              `${command} could not be run: ${error.message}`,
              { command },
              { cause: error },
            ),
          );
        }
      },
    );
  });
}

/** Turns a failed control command into `E_PROCESS_DRIVER_FAILED` carrying its output. */
export function controlCommandFailed(
  file: string,
  args: readonly string[],
  result: ControlCommandResult,
  why: string,
): FerryError {
  const command = [file, ...args].join(' ');
  const output = `${result.stdout}${result.stderr}`.trim();
  return new FerryError(
    'E_PROCESS_DRIVER_FAILED',
    `${command} failed (exit code ${result.exitCode}): ${why}${output === '' ? '' : `\n${output}`}`,
    { command, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr },
  );
}
