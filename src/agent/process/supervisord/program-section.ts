import path from 'node:path';
import { FerryError } from '../../../protocol/errors.js';
import { checkServiceSpec } from '../check-service-spec.js';
import type { ServiceSpec } from '../process-driver.js';

/** The supervisord program that runs a service: `ferry-<name>`. */
export function programName(service: string): string {
  return `ferry-${service}`;
}

/**
 * The `[program:ferry-<name>]` section that runs `spec` under supervisord,
 * with its environment in `envFile` (see `environmentScript`), which the
 * driver writes mode 0600.
 *
 * The program is `/usr/bin/env -i /bin/sh <envFile> <command>`: `env -i`
 * because supervisord passes its own environment to its programs
 * (`environment=` only adds to it), which would break "nothing is inherited";
 * the file because whatever is in `command=` is in the process's arguments,
 * which every user of the host reads (`ps`, `/proc/<pid>/cmdline`), and in the
 * section, which supervisord may need readable. The section holds no variable.
 * `command=` is split like a POSIX shell word list, so any command can be
 * written there.
 *
 * Throws `E_SERVICE_INVALID` for what an ini line cannot hold: a line break in
 * the command or a path.
 *
 * @example
 *   await writeFile('/etc/supervisor/conf.d/ferry-cart.conf', programSection(spec, envFile));
 */
export function programSection(spec: ServiceSpec, envFile: string): string {
  checkServiceSpec(spec);
  const problems: string[] = [];
  if (/[\n\r]/.test(spec.command)) problems.push('the command has a line break');
  if (/[\0\n\r]/.test(envFile) || !path.isAbsolute(envFile))
    problems.push('the environment file is not a plain absolute path');
  for (const key of ['cwd', 'stdoutFile', 'stderrFile'] as const) {
    // An ini parser strips them, and takes ` ;` or ` #` for a comment.
    if (/^\s|\s$|\s[;#]/.test(spec[key])) {
      problems.push(`${key} has leading or trailing spaces, or a space before ; or #`);
    }
    if (spec[key].includes('%(here)s')) problems.push(`${key} holds %(here)s`);
  }
  if (problems.length > 0) {
    throw new FerryError(
      'E_SERVICE_INVALID',
      `Service ${spec.name} cannot be written for supervisord: ${problems.join('; ')}`,
      { service: spec.name, problems },
    );
  }
  const command = ['/usr/bin/env', '-i', '/bin/sh', word(envFile), word(spec.command)];
  return [
    `; Written by Ferry for service ${spec.name}; Ferry overwrites changes.`,
    `; Its environment is in ${envFile.replaceAll('%', '%%')} (mode 0600).`,
    `[program:${programName(spec.name)}]`,
    `command=${command.join(' ')}`,
    `directory=${plain(spec.cwd)}`,
    'autostart=true',
    'autorestart=true',
    'startsecs=1',
    'startretries=3',
    `stopsignal=${spec.stopSignal.replace(/^SIG/, '')}`,
    `stopwaitsecs=${Math.max(1, Math.ceil(spec.stopTimeoutMs / 1000))}`,
    // Like the builtin driver, stop and kill the service's whole process group.
    'stopasgroup=true',
    'killasgroup=true',
    'redirect_stderr=false',
    // Appended as is: the files belong to the release's logs, supervisord must not rotate them.
    `stdout_logfile=${plain(spec.stdoutFile)}`,
    'stdout_logfile_maxbytes=0',
    'stdout_logfile_backups=0',
    `stderr_logfile=${plain(spec.stderrFile)}`,
    'stderr_logfile_maxbytes=0',
    'stderr_logfile_backups=0',
    '',
  ].join('\n');
}

/**
 * The shell script a program's `command=` runs (`/bin/sh <file> <command>`):
 * it exports exactly `spec.env` and replaces itself with `/bin/sh -c
 * <command>`, so the service's own process has its plain command line and
 * this environment. Values are single-quoted, which keeps every character
 * (line breaks too) literal.
 *
 * @example
 *   await writePrivateFile(envFile, environmentScript(spec));
 */
export function environmentScript(spec: ServiceSpec): string {
  checkServiceSpec(spec);
  return [
    `# Written by Ferry for service ${spec.name}: its environment. Mode 0600: it may hold secrets.`,
    ...Object.entries(spec.env).map(([name, value]) => `export ${name}=${shellQuoted(value)}`),
    'exec /bin/sh -c "$1"',
    '',
  ].join('\n');
}

function shellQuoted(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * supervisord expands `%(name)s` in most values, so a literal `%` is written
 * `%%`; `%(here)s` is replaced even then, so paths holding it are refused.
 */
function plain(value: string): string {
  return value.replaceAll('%', '%%');
}

/**
 * One word of `command=`, which supervisord expands (`%`) and then splits with
 * Python's `shlex.split`. Single quotes keep everything literal; `;` and `#`
 * are written outside them, backslash-escaped, because the ini parser would
 * take a space followed by either for the start of a comment.
 */
function word(value: string): string {
  let out = "'";
  for (const char of value) {
    if (char === "'") out += `'\\''`;
    else if (char === ';' || char === '#') out += `'\\${char}'`;
    // The quotes closed and reopened after it keep `%(here)s`, which supervisord
    // replaces before any other expansion, from ever appearing in the file.
    else if (char === '%') out += "%%''";
    else out += char;
  }
  return `${out}'`;
}
