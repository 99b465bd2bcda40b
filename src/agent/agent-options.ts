import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { FerryError } from '../protocol/errors.js';
import { roleNameSchema } from '../protocol/fields.js';
import { decodeJoinString, type JoinTicket } from '../tls/join-string.js';
import { identityFile } from './agent-identity.js';
import type { AgentOptions } from './run-agent.js';

/** `ferry agent`'s command-line options, before checking. */
export interface RawAgentOptions {
  env?: string | undefined;
  roles?: string | undefined;
  root: string;
  /** A file holding the enrolment token (read, trimmed): a token in the arguments is visible to `ps`. */
  tokenFile?: string | undefined;
  /** A file holding a join string (server, enrolment token, the CA to pin), from `ferry tokens create`. */
  joinFile?: string | undefined;
  name?: string | undefined;
  var?: string[] | undefined;
  driver: string;
  supervisordConfig?: string | undefined;
  supervisordInclude?: string | undefined;
  systemdUnitDir?: string | undefined;
  path?: string | undefined;
  commandTimeout: string;
  checkTimeout?: string | undefined;
  transportUrl?: string | undefined;
  transportPrefix?: string | undefined;
  amqpCa?: string | undefined;
}

/** As the server's enrolment takes it. */
const HOST_NAME = /^[a-z0-9][a-z0-9.-]{0,62}$/;

const DRIVERS = ['builtin', 'supervisord', 'systemd'] as const;

/**
 * Checks `ferry agent`'s options, reporting every problem at once (`E_CONFIG_INVALID`).
 * The enrolment token comes from `--token-file`, else the global `--token`
 * (which `warn` is told about: every user of the host can read a process's
 * arguments), else `FERRY_TOKEN`.
 */
export function parseAgentOptions(
  raw: RawAgentOptions,
  globals: { server?: string | undefined; token?: string | undefined },
  defaults: { path: string; name: string },
  warn: (message: string) => void = () => undefined,
): AgentOptions {
  const problems: string[] = [];
  let token: string | undefined;
  const join = readJoin(raw.joinFile, existsSync(identityFile(raw.root)), problems, warn);
  if (join !== undefined) {
    token = join.token;
    if (raw.tokenFile !== undefined || globals.token !== undefined)
      problems.push(
        '--token-file: give the join string or a token, not both (the join string holds one)',
      );
  } else if (raw.tokenFile !== undefined) {
    try {
      token = readFileSync(raw.tokenFile, 'utf8').trim();
      if (token === '') problems.push(`--token-file ${raw.tokenFile}: the file is empty`);
    } catch (err) {
      problems.push(
        `--token-file ${raw.tokenFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  } else if (globals.token !== undefined) {
    token = globals.token;
    warn(
      'ferry agent: --token on the command line is visible to every user of this host (ps); use --token-file FILE or FERRY_TOKEN',
    );
  } else if (process.env.FERRY_TOKEN) {
    token = process.env.FERRY_TOKEN;
  }
  // A join string names the server; --server still wins (a proxy, a balancer in front).
  const server = globals.server ?? (process.env.FERRY_SERVER || undefined) ?? join?.server;
  if (!server)
    problems.push('--server: the Ferry server URL is required (or FERRY_SERVER, or a join string)');
  if (!raw.env) problems.push('--env: the environment of this host is required, such as qa');
  const roles = (raw.roles ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  if (roles.length === 0) problems.push('--roles: at least one role is required, such as web');
  for (const role of roles) {
    if (!roleNameSchema.safeParse(role).success)
      problems.push(
        `--roles: ${JSON.stringify(role)} is not a role name (lower-case letters, digits and dashes, starting with a letter)`,
      );
  }
  if (raw.name !== undefined && !HOST_NAME.test(raw.name))
    problems.push(
      `--name: ${JSON.stringify(raw.name)} is not a host name (lower-case letters, digits, dots and dashes, at most 63)`,
    );
  const vars: Record<string, string> = {};
  for (const pair of raw.var ?? []) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(pair);
    if (match) vars[match[1]!] = match[2]!;
    else problems.push(`--var ${pair}: expected NAME=VALUE`);
  }
  if (!(DRIVERS as readonly string[]).includes(raw.driver)) {
    problems.push(`--driver ${raw.driver}: expected one of ${DRIVERS.join(', ')}`);
  }
  const transportUrl = raw.transportUrl ?? (process.env.FERRY_TRANSPORT_URL || undefined);
  if (raw.transportUrl !== undefined && passwordOf(raw.transportUrl) !== '')
    warn(
      'ferry agent: a password in --transport-url on the command line is visible to every user of this host (ps); use FERRY_TRANSPORT_URL',
    );
  if (transportUrl !== undefined && !/^amqps?:\/\//.test(transportUrl))
    problems.push('--transport-url: expected an AMQP URL such as amqp://host-1:secret@rabbit:5672');
  const amqpCa = raw.amqpCa ?? (process.env.FERRY_AMQP_CA || undefined);
  if (amqpCa !== undefined && !transportUrl?.startsWith('amqps://'))
    problems.push(
      '--amqp-ca: the broker CA is for an amqps:// --transport-url (FERRY_TRANSPORT_URL)',
    );
  const prefix = raw.transportPrefix ?? 'ferry';
  if (!/^[a-z][a-z0-9_-]{0,40}$/.test(prefix))
    problems.push('--transport-prefix: expected a plain name such as ferry');
  const timeout = Number(raw.commandTimeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    problems.push('--command-timeout: expected seconds, such as 600');
  const checkTimeout = Number(raw.checkTimeout ?? (process.env.FERRY_CHECK_TIMEOUT || '15'));
  if (!Number.isFinite(checkTimeout) || checkTimeout <= 0)
    problems.push('--check-timeout: expected seconds, such as 15');
  if (problems.length > 0) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `ferry agent cannot start:\n  ${problems.join('\n  ')}`,
      { problems },
    );
  }
  return {
    server: server!.replace(/\/+$/, ''),
    token,
    caFingerprint: join?.ca,
    env: raw.env!,
    roles,
    root: raw.root,
    name: raw.name ?? defaults.name,
    vars,
    driver: raw.driver as AgentOptions['driver'],
    supervisordConfig: raw.supervisordConfig,
    supervisordInclude: raw.supervisordInclude,
    systemdUnitDir: raw.systemdUnitDir,
    path: raw.path ?? defaults.path,
    commandTimeoutMs: timeout * 1000,
    checkTimeoutMs: checkTimeout * 1000,
    transport:
      transportUrl === undefined
        ? { kind: 'builtin' }
        : {
            kind: 'rabbitmq',
            url: transportUrl,
            prefix,
            ...(amqpCa === undefined ? {} : { caFile: path.resolve(amqpCa) }),
          },
    heartbeatMs: 30_000,
  };
}

/**
 * The join string of `--join-file FILE`, else `FERRY_JOIN`, if any; a problem
 * is added for one that cannot be read (its text is never repeated: it holds a token).
 * A join file other users may read or change is refused when the agent is to
 * enrol with it (`enrolled` false), as ssh refuses an open private key: the
 * token in it is this host's way in, and a warning scrolls by in a service
 * log. An agent enrolled already does not use the token again, so it is only
 * warned of: a unit that still names the file (a Kubernetes secret volume is
 * 0644 unless told) keeps starting.
 */
function readJoin(
  file: string | undefined,
  enrolled: boolean,
  problems: string[],
  warn: (message: string) => void,
): JoinTicket | undefined {
  let text: string | undefined;
  let from = 'FERRY_JOIN';
  if (file !== undefined) {
    from = `--join-file ${file}`;
    try {
      const mode = statSync(file).mode & 0o777;
      if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
        const open = `${from}: other users of this host ${openTo(mode)} (mode 0${mode.toString(8)}), and it holds a token: run \`chmod 600 ${file}\` (in Kubernetes, mount the secret with \`defaultMode: 0400\`).`;
        if (!enrolled) {
          problems.push(
            `${open} If someone else may have read it, revoke the token (\`ferry tokens revoke\`) and make a new join string.`,
          );
          return undefined;
        }
        warn(
          `ferry agent: ${open} This agent is enrolled already and does not use it again: you may also remove --join-file from its service, and revoke the token (\`ferry tokens revoke\`).`,
        );
      }
      text = readFileSync(file, 'utf8');
    } catch (err) {
      problems.push(
        `${from}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
      return undefined;
    }
  } else {
    text = process.env.FERRY_JOIN || undefined;
  }
  if (text === undefined) return undefined;
  try {
    return decodeJoinString(text);
  } catch (err) {
    problems.push(`${from}: ${(err as Error).message}`);
    return undefined;
  }
}

/** What other users may do with a file of `mode` (which is not this user's alone). */
function openTo(mode: number): string {
  const read = (mode & 0o044) !== 0;
  const write = (mode & 0o022) !== 0;
  if (read && write) return 'may read or change it';
  if (read) return 'may read it';
  if (write) return 'may change it';
  return 'may run it';
}

/** The password of a URL, or '' when it has none or is no URL (reported elsewhere). */
function passwordOf(url: string): string {
  try {
    return new URL(url).password;
  } catch {
    return '';
  }
}
