import { readFile } from 'node:fs/promises';
import path from 'node:path';

/** How an env app is made. */
export interface EnvAppOptions {
  /** The service's environment besides `APP_PORT` (`{ COLOUR: '${COLOUR}' }`): what a test reads back. */
  env?: Record<string, string>;
  /** Its health check's timeout; `10s` unless told. */
  healthTimeout?: string;
  /** Fails its health check (503) while this variable of its environment has this value. */
  failWhen?: { variable: string; value: string };
}

/**
 * A one-file app of role `web` with no dependencies, for tests of what a
 * release runs with: its service gets `APP_PORT: '${PORT}'` and `env`, and
 * answers every request on that port with `{ok, app, version}`. What it was
 * given is read back from the process itself (`runningEnv`).
 *
 * @example
 *   await cluster.push(envAppTree('paint', { env: { COLOUR: '${COLOUR}' } }), 'one');
 *   (await runningEnv(cluster.host('qa-1').root, 'paint'))?.COLOUR;
 */
export function envAppTree(app: string, options: EnvAppOptions = {}): Record<string, string> {
  const env = { APP_PORT: '${PORT}', ...options.env };
  const failing = options.failWhen
    ? `process.env[${JSON.stringify(options.failWhen.variable)}] === ${JSON.stringify(options.failWhen.value)}`
    : 'false';
  return {
    'ferry.yml': [
      'apps:',
      `  ${app}:`,
      '    role: web',
      '    service:',
      '      command: node server.js',
      `      env: { ${Object.entries(env)
        .map(([name, value]) => `${name}: '${value}'`)
        .join(', ')} }`,
      '      stopTimeout: 5s',
      `    health: { http: 'http://127.0.0.1:\${PORT}/health', timeout: ${options.healthTimeout ?? '10s'}, interval: 200ms }`,
      '',
    ].join('\n'),
    'server.js': `import http from 'node:http';
const failing = ${failing};
http.createServer((request, response) => {
  response.writeHead(failing ? 503 : 200, { 'content-type': 'application/json' });
  response.end(JSON.stringify({ ok: !failing, app: process.env.FERRY_APP, version: process.env.FERRY_VERSION }));
}).listen(Number(process.env.APP_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`,
  };
}

/**
 * The environment of an app's service running under an agent root, as the
 * kernel keeps it (`/proc/<pid>/environ` of the pid the builtin driver
 * recorded); undefined when it does not run.
 */
export async function runningEnv(
  root: string,
  app: string,
): Promise<Record<string, string> | undefined> {
  try {
    const record = JSON.parse(
      await readFile(path.join(root, 'agent', 'services', `${app}.json`), 'utf8'),
    ) as { pid: number };
    const environ = await readFile(`/proc/${record.pid}/environ`, 'utf8');
    return Object.fromEntries(
      environ
        .split('\0')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  } catch {
    return undefined;
  }
}
