/**
 * The dashboard story's app `web` (role web, no dependencies, so rollouts are
 * quick): it serves `/health` on `${PORT}`, and listens only once the file its
 * host's `GATE` variable names exists — so a test holds a rollout at one host's
 * health check until it has seen, on the page, what it came to see, however
 * slow the machine. Made `breakable`, it also fails its health check (503, and
 * an error line on stderr) on a host whose `BREAK` variable is `yes`.
 *
 * @example
 *   await cluster.push(storyAppTree('one', { healthTimeout: '90s' }), '1.0.0');
 */
export function storyAppTree(
  mark: string,
  options: { breakable?: boolean; healthTimeout: string },
): Record<string, string> {
  const env = [`WEB_PORT: '\${PORT}'`, `WEB_MARK: '${mark}'`, `WEB_GATE: '\${GATE}'`];
  if (options.breakable) env.push(`WEB_BREAK: '\${BREAK}'`);
  return {
    'ferry.yml': [
      'apps:',
      '  web:',
      '    service:',
      '      command: node server.js',
      `      env: { ${env.join(', ')} }`,
      '      stopTimeout: 5s',
      `    health: { http: 'http://127.0.0.1:\${PORT}/health', timeout: ${options.healthTimeout}, interval: 200ms }`,
      '    keepReleases: 5',
      '',
    ].join('\n'),
    'server.js': SERVER,
  };
}

const SERVER = `import fs from 'node:fs';
import http from 'node:http';
const port = Number(process.env.WEB_PORT);
const version = process.env.FERRY_VERSION;
const mark = process.env.WEB_MARK;
const broken = process.env.WEB_BREAK === 'yes';
if (broken) console.error('ERROR: web ' + version + ' cannot reach the payment gateway');
const server = http.createServer((request, response) => {
  if (request.url === '/health') {
    response.writeHead(broken ? 503 : 200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: !broken, version, mark }));
    return;
  }
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end('web ' + version + ' ' + mark + '\\n');
});
const open = () =>
  server.listen(port, '127.0.0.1', () => console.log('web ' + version + ' listening on ' + port));
const wait = () => (fs.existsSync(process.env.WEB_GATE) ? open() : setTimeout(wait, 100));
wait();
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;
