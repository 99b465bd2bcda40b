import path from 'node:path';
import { FerryError } from '../../../protocol/errors.js';
import { checkServiceSpec } from '../check-service-spec.js';
import type { ServiceSpec } from '../process-driver.js';

/** The systemd unit that runs a service: `ferry-<name>.service`. */
export function unitName(service: string): string {
  return `ferry-${service}.service`;
}

export interface ServiceUnitOptions {
  /** Seconds systemd waits before restarting a failed service. Default 1. */
  restartSec?: number;
}

/**
 * The text of `ferry-<name>.service` for `spec`, its environment read from
 * `envFile` (see `environmentFile`, written mode 0600). Pure, so that it can be
 * checked with `systemd-analyze verify` on a machine without systemd.
 *
 * The unit holds no variable: unit files are readable by every user of the
 * host (and `systemctl show` prints `Environment=` to anyone), an
 * `EnvironmentFile=` is read by systemd alone.
 *
 * Escaping follows systemd.syntax(7) and systemd.service(5): `%` starts a
 * specifier everywhere (written `%%`); in `ExecStart=` a `$` starts a variable
 * (written `$$`) and quoted words take C escapes (`\\`, `\'`, `\n`, `\xNN`).
 *
 * @example
 *   await writeFile('/etc/systemd/system/ferry-cart.service', serviceUnit(spec, envFile));
 */
export function serviceUnit(
  spec: ServiceSpec,
  envFile: string,
  options: ServiceUnitOptions = {},
): string {
  checkServiceSpec(spec);
  if (!path.isAbsolute(envFile) || /^\s|\s$|[\0\n\r]|\\$/.test(envFile)) {
    throw new FerryError(
      'E_SERVICE_INVALID',
      `Service ${spec.name} cannot be written for systemd: its environment file ${JSON.stringify(envFile)} is not a plain absolute path`,
      { service: spec.name, problems: ['envFile is not a plain path'] },
    );
  }
  for (const key of ['cwd', 'stdoutFile', 'stderrFile'] as const) {
    // systemd strips them, and a trailing backslash continues the line.
    if (/^\s|\s$|\\$/.test(spec[key])) {
      throw new FerryError(
        'E_SERVICE_INVALID',
        `Service ${spec.name} cannot be written for systemd: ${key} has leading or trailing spaces or a trailing backslash`,
        { service: spec.name, problems: [`${key} is not a plain path`] },
      );
    }
  }
  const restartSec = options.restartSec ?? 1;
  return [
    '# Written by Ferry; Ferry overwrites changes.',
    '[Unit]',
    `Description=Ferry service ${spec.name}`,
    '',
    '[Service]',
    'Type=simple',
    `WorkingDirectory=${specifiers(spec.cwd)}`,
    `ExecStart=/bin/sh -c ${quoted(
      spec.command.replaceAll('$', () => '$$'),
      "'",
    )}`,
    // systemd starts services with an almost empty environment; the file's is all it adds.
    `EnvironmentFile=${specifiers(envFile)}`,
    `StandardOutput=append:${specifiers(spec.stdoutFile)}`,
    `StandardError=append:${specifiers(spec.stderrFile)}`,
    // Like the builtin driver: the stop signal to every process of the
    // service, SIGKILL to what is left after the timeout.
    'KillMode=control-group',
    `KillSignal=${spec.stopSignal}`,
    `TimeoutStopSec=${spec.stopTimeoutMs}ms`,
    'Restart=on-failure',
    `RestartSec=${restartSec}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

/**
 * The text of a service's `EnvironmentFile=`: one `NAME="value"` per
 * variable, written as systemd's own env-file writer does: inside double
 * quotes a backslash goes before `"`, `\\`, `` ` `` and `$`, and everything
 * else, line breaks too, is literal.
 *
 * @example
 *   await writePrivateFile('/srv/ferry/agent/env/ferry-cart.env', environmentFile(spec));
 */
export function environmentFile(spec: ServiceSpec): string {
  checkServiceSpec(spec);
  const lines = Object.entries(spec.env).map(
    ([name, value]) => `${name}="${value.replace(/["\\`$]/g, (char) => `\\${char}`)}"`,
  );
  return [
    `# Written by Ferry for service ${spec.name}: its environment. Mode 0600: it may hold secrets.`,
    ...lines,
    '',
  ].join('\n');
}

function specifiers(value: string): string {
  return value.replaceAll('%', '%%');
}

/** One quoted word with C escapes, so that any character (even a line break) fits on one line. */
function quoted(value: string, quote: "'" | '"'): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    if (char === '\\' || char === quote) out += `\\${char}`;
    else if (char === '\n') out += '\\n';
    else if (char === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (char === '%') out += '%%';
    else out += char;
  }
  return `${quote}${out}${quote}`;
}
