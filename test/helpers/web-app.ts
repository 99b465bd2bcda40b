/**
 * A small web app with no dependencies (nothing to install, so rollouts are
 * quick): it serves `/health` as `{ok, version, mark}` on `${PORT}`, and fails
 * its health check on a host whose `BREAK` variable is `yes` (when the bundle is
 * made with `breakable`). Its name and role are `web`.
 */
export function webAppTree(
  mark: string,
  options: {
    breakable?: boolean;
    healthTimeout?: string;
    /** Wait this long before listening: a rollout that is still going when something dies. */
    slowStartMs?: number;
    /**
     * Listen only once this file exists: a rollout held at its first host until
     * the test lets it go on, however slow the machine.
     */
    gateFile?: string;
    /** A variable (a secret, say) the service gets as `WEB_SECRET` and prints as a warning when it starts. */
    printVar?: string;
    /**
     * Answer /health with 503 while this file exists: a host that falls ill
     * after its rollout. `{port}` in it stands for the service's port, so that
     * each host of a cluster has a file of its own (`cluster.host(name).port`).
     */
    sickFile?: string;
    /** Continuous health: how often the agent checks the running release (`health.every`). */
    healthEvery?: string;
  } = {},
): Record<string, string> {
  const env = [`WEB_PORT: '\${PORT}'`, `WEB_MARK: '${mark}'`];
  if (options.breakable) env.push(`WEB_BREAK: '\${BREAK}'`);
  if (options.printVar !== undefined) env.push(`WEB_SECRET: '\${${options.printVar}}'`);
  return {
    'ferry.yml': [
      'apps:',
      '  web:',
      '    service:',
      '      command: node server.js',
      `      env: { ${env.join(', ')} }`,
      '      stopTimeout: 5s',
      `    health: { http: 'http://127.0.0.1:\${PORT}/health', timeout: ${options.healthTimeout ?? '10s'}, interval: 200ms${options.healthEvery === undefined ? '' : `, every: ${options.healthEvery}`} }`,
      '    keepReleases: 5',
      '',
    ].join('\n'),
    'server.js': sickened(
      options.gateFile !== undefined
        ? gated(options.gateFile)
        : options.slowStartMs === undefined
          ? WEB_SERVER
          : slowStart(options.slowStartMs),
      options.sickFile,
    ),
  };
}

/** The server, failing its health check while `file` exists (none: as it is). */
function sickened(server: string, file: string | undefined): string {
  if (file === undefined) return server;
  let code = server
    .replace(
      'response.writeHead(broken ? 503 : 200,',
      `const failing = broken || fs.existsSync(${JSON.stringify(file)}.replace('{port}', String(port)));
    response.writeHead(failing ? 503 : 200,`,
    )
    .replace('JSON.stringify({ ok: !broken,', 'JSON.stringify({ ok: !failing,');
  if (!code.includes('import fs from'))
    code = code.replace(
      "import http from 'node:http';",
      "import fs from 'node:fs';\nimport http from 'node:http';",
    );
  if (!code.includes('ok: !failing') || !code.includes('import fs from'))
    throw new Error('sickened found no health answer');
  return code;
}

/** The server, listening only once `file` exists. */
function gated(file: string): string {
  const code = WEB_SERVER.replace(
    "server.listen(port, '127.0.0.1', () => console.log('web ' + version + ' listening on ' + port));",
    `const open = () => server.listen(port, '127.0.0.1', () => console.log('web ' + version + ' listening on ' + port));
const wait = () => (fs.existsSync(${JSON.stringify(file)}) ? open() : setTimeout(wait, 100));
wait();`,
  ).replace(
    "import http from 'node:http';",
    "import fs from 'node:fs';\nimport http from 'node:http';",
  );
  if (!code.includes('const wait = ')) throw new Error('gated found no listen');
  return code;
}

/** The server, listening only after `ms`. */
function slowStart(ms: number): string {
  const code = WEB_SERVER.replace(
    'server.listen(port',
    'setTimeout(() => server.listen(port',
  ).replace("listening on ' + port));", `listening on ' + port)), ${ms});`);
  if (!code.includes('setTimeout(() => server.listen('))
    throw new Error('slowStart found no listen');
  return code;
}

const WEB_SERVER = `import http from 'node:http';
const port = Number(process.env.WEB_PORT);
const version = process.env.FERRY_VERSION;
const mark = process.env.WEB_MARK;
const broken = process.env.WEB_BREAK === 'yes';
if (process.env.WEB_SECRET) console.log('WARNING: starting with api token ' + process.env.WEB_SECRET);
const server = http.createServer((request, response) => {
  if (request.url === '/health') {
    response.writeHead(broken ? 503 : 200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: !broken, version, mark }));
    return;
  }
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('web ' + version + ' ' + mark + '\\n');
});
server.listen(port, '127.0.0.1', () => console.log('web ' + version + ' listening on ' + port));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
