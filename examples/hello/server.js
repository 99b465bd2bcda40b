// The example app Ferry deploys in its demo and tests. It has one real dependency
// (`ms`), so that the release's `npm ci` installs something for real.
import http from 'node:http';
import ms from 'ms';

const port = Number(process.env.HELLO_PORT ?? 8080);
const version = process.env.FERRY_VERSION ?? 'dev';
const startedAt = Date.now();

const server = http.createServer((request, response) => {
  if (request.url === '/health') {
    const uptimeMs = Date.now() - startedAt;
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: true, version, uptime: ms(uptimeMs, { long: true }) }));
    return;
  }
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end(`hello from version ${version}\n`);
});

// One line on each stream at start, so that tests can tell the two log files apart.
console.error(`hello ${version} starting (pid ${process.pid})`);

server.listen(port, '127.0.0.1', () => {
  console.log(`hello listening on 127.0.0.1:${port}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
