import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { envAppTree } from './env-app.js';

/**
 * The apps of a platform release like the seed's (front, back and mq, pushed
 * with one label), each small and quick to install, each carrying one of the
 * problems a release report must find by itself.
 */

/** What back's migration prints, as PostgreSQL does when a migration creates what exists. */
export const PG_WARNING = 'WARNING:  relation "seq_x" already exists, skipping';

/**
 * front, role `web`: serves `${PORT}`. With `breakable`, its health check fails
 * (503) on a host whose `BREAK` variable is `yes`, which an earlier front
 * without it never read.
 */
export function frontTree(options: { breakable?: boolean } = {}): Record<string, string> {
  return envAppTree('front', {
    healthTimeout: '3s',
    ...(options.breakable
      ? { env: { FRONT_BREAK: '${BREAK}' }, failWhen: { variable: 'FRONT_BREAK', value: 'yes' } }
      : {}),
  });
}

/**
 * back, role `web`: a worker with no port, needing node 18 or later, whose
 * migration prints `PG_WARNING` on stdout and succeeds.
 */
export function backTree(): Record<string, string> {
  return {
    'ferry.yml': [
      'apps:',
      '  back:',
      '    role: web',
      '    requires: { node: ">=18" }',
      '    migrate: [node migrate.js]',
      '    service:',
      '      command: node worker.js',
      '      stopTimeout: 2s',
      '',
    ].join('\n'),
    'migrate.js': [
      "console.log('CREATE SEQUENCE IF NOT EXISTS seq_x');",
      `console.log(${JSON.stringify(PG_WARNING)});`,
      '',
    ].join('\n'),
    'worker.js': WORKER,
  };
}

/** mq, role `mq`: a daemon with no port that writes a line to stdout and one to stderr. */
export function mqTree(): Record<string, string> {
  return {
    'ferry.yml': [
      'apps:',
      '  mq:',
      '    role: mq',
      '    service:',
      '      command: node worker.js',
      '      stopTimeout: 2s',
      '',
    ].join('\n'),
    'worker.js': `console.error('mq: no broker configured, consuming nothing');\n${WORKER}`,
  };
}

const WORKER = `console.log(process.env.FERRY_APP + ' ' + process.env.FERRY_VERSION + ' up');
setInterval(() => undefined, 1000);
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * A folder under `dir` holding a `node` that says it is `version` when asked
 * (`--version`, as the agent's facts and `requires` step ask) and otherwise
 * runs this machine's node: put first on an agent's PATH, that host has an
 * older node as far as Ferry can tell, and its apps still run.
 */
export async function fakeNodeBin(dir: string, version: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'node');
  await writeFile(
    file,
    [
      '#!/bin/sh',
      `if [ "$1" = "--version" ] || [ "$1" = "-v" ]; then echo '${version}'; exit 0; fi`,
      `exec '${process.execPath}' "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(file, 0o755);
  return dir;
}
