// The example app Ferry deploys in its demo and tests.
import http from 'node:http';

const port = Number(process.env.HELLO_PORT ?? 8080);
const version = process.env.FERRY_VERSION ?? 'dev';

const server = http.createServer((request, response) => {
  if (request.url === '/health') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: true, version }));
    return;
  }
  response.writeHead(200, { 'content-type': 'text/plain' });
  response.end(`hello from version ${version}\n`);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`hello listening on 127.0.0.1:${port}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
