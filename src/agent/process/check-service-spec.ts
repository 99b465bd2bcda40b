import { mkdir, open, stat } from 'node:fs/promises';
import { constants } from 'node:os';
import path from 'node:path';
import { FerryError } from '../../protocol/errors.js';
import type { ServiceSpec } from './process-driver.js';

/** Service names become file names, unit names and program names, so they stay this plain. */
const SERVICE_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Variable names a shell, `env`, supervisord and systemd all accept. */
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Throws `E_SERVICE_INVALID` unless `name` is a valid service name (lower-case
 * letters, digits and dashes). Drivers build paths from it, so they check it
 * before touching the disk.
 */
export function checkServiceName(name: string): void {
  if (!SERVICE_NAME.test(name)) {
    throw new FerryError(
      'E_SERVICE_INVALID',
      `Service name ${JSON.stringify(name)} is not valid: use lower-case letters, digits and dashes`,
      { service: name },
    );
  }
}

/**
 * Checks what every driver relies on, and throws `E_SERVICE_INVALID` listing
 * every problem at once: absolute paths, a known stop signal, a positive stop
 * timeout, variable names without `=`, and no NUL byte anywhere (no process
 * can receive one).
 *
 * @example
 *   checkServiceSpec(spec); // before writing any file for it
 */
export function checkServiceSpec(spec: ServiceSpec): void {
  checkServiceName(spec.name);
  const problems: string[] = [];
  for (const key of ['cwd', 'stdoutFile', 'stderrFile'] as const) {
    if (!path.isAbsolute(spec[key])) problems.push(`${key} must be an absolute path`);
    if (/[\0\n\r]/.test(spec[key])) problems.push(`${key} must not hold NUL or line breaks`);
  }
  if (spec.command.trim() === '') problems.push('command is empty');
  if (spec.command.includes('\0')) problems.push('command must not hold a NUL byte');
  for (const [name, value] of Object.entries(spec.env)) {
    if (!VARIABLE_NAME.test(name)) problems.push(`env name ${JSON.stringify(name)} is not valid`);
    if (value.includes('\0')) problems.push(`env ${name} must not hold a NUL byte`);
  }
  if (!Object.hasOwn(constants.signals, spec.stopSignal)) {
    problems.push(`stopSignal ${JSON.stringify(spec.stopSignal)} is not a signal`);
  }
  if (!Number.isInteger(spec.stopTimeoutMs) || spec.stopTimeoutMs <= 0) {
    problems.push('stopTimeoutMs must be a positive whole number');
  }
  if (problems.length > 0) {
    throw new FerryError(
      'E_SERVICE_INVALID',
      `Service ${spec.name} cannot be run: ${problems.join('; ')}`,
      { service: spec.name, problems },
    );
  }
}

/**
 * Makes sure a service can start: its working folder exists (a driver would
 * otherwise find out only from a failed start), and its log files are there,
 * created mode 0600: a service's output often holds its settings, secrets
 * included, and whoever writes to them later (the agent, supervisord, systemd)
 * appends to the file as it is.
 */
export async function prepareServiceFolders(spec: ServiceSpec): Promise<void> {
  const cwd = await stat(spec.cwd).catch(() => null);
  if (!cwd?.isDirectory()) {
    throw new FerryError(
      'E_SERVICE_START_FAILED',
      `Service ${spec.name} cannot start: its working folder ${spec.cwd} does not exist`,
      { service: spec.name, cwd: spec.cwd },
    );
  }
  await createPrivateLogFile(spec.stdoutFile);
  await createPrivateLogFile(spec.stderrFile);
}

/** Creates a log file (and its folder) mode 0600 if it is missing; an existing one is kept as it is. */
export async function createPrivateLogFile(file: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await (await open(file, 'a', 0o600)).close();
}
