#!/usr/bin/env node
// An agent's CPU per bundle download (issue 18): `downloadBundleAttempt`, as
// the agent calls it (the pinned CA, over TLS), fetching a file of --size-mb
// random bytes from an HTTPS server in another process, --downloads times one
// after another; prints this process's CPU (utime + stime) per download. The
// server's CPU is not counted. `--dist DIR` takes the client from another
// build (an old one, for an A/B).
//
//   node bench/download-cpu.mjs [--size-mb 21] [--downloads 10] [--dist dist]
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '21' },
    downloads: { type: 'string', default: '10' },
    dist: { type: 'string', default: fileURLToPath(new URL('../dist', import.meta.url)) },
  },
});
const sizeMb = Number(values['size-mb']);
const downloads = Number(values.downloads);
const dist = path.resolve(values.dist);

const dir = mkdtempSync(path.join(os.tmpdir(), 'ferry-download-cpu-'));
const server = { child: undefined };
try {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  const blob = path.join(dir, 'bundle.tar.gz');
  writeFileSync(blob, randomBytes(sizeMb * 1024 * 1024));
  // The server: the bundle from its file in 1 MiB reads, as Ferry's server sends it.
  const serve = `
    import https from 'node:https'; import fs from 'node:fs';
    const size = fs.statSync(${JSON.stringify(blob)}).size;
    const s = https.createServer({ key: fs.readFileSync(${JSON.stringify(key)}), cert: fs.readFileSync(${JSON.stringify(cert)}) }, (req, res) => {
      res.writeHead(200, { 'content-length': size });
      fs.createReadStream(${JSON.stringify(blob)}, { highWaterMark: 1024 * 1024 }).pipe(res);
    });
    s.listen(0, '127.0.0.1', () => console.log(s.address().port));`;
  server.child = spawn(process.execPath, ['--input-type=module', '-e', serve], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise((resolve, reject) => {
    server.child.stdout.once('data', (line) => resolve(Number(String(line).trim())));
    server.child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
  });

  const load = (module) => import(pathToFileURL(path.join(dist, module)).href);
  const { FerryClient } = await load('client/ferry-client.js');
  const { ServerTrust } = await load('client/server-trust.js');
  const { downloadBundleAttempt } = await load('client/node-transfers.js');
  const trust = ServerTrust.pinned(readFileSync(cert, 'utf8'));
  const client = new FerryClient(`https://127.0.0.1:${port}`, 'token', trust.clientOptions());
  const bundle = { app: 'bench', version: 1 };
  const out = path.join(dir, 'downloaded');
  await downloadBundleAttempt(client, bundle, out); // warm: modules, the first connection
  const before = process.cpuUsage();
  for (let i = 0; i < downloads; i++) await downloadBundleAttempt(client, bundle, out);
  const used = process.cpuUsage(before);
  const perDownloadMs = (used.user + used.system) / 1000 / downloads;
  console.log(
    `${dist}: ${downloads} downloads of ${sizeMb} MiB over TLS, ${perDownloadMs.toFixed(1)} ms CPU each ` +
      `(load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})`,
  );
} finally {
  server.child?.kill();
  rmSync(dir, { recursive: true, force: true });
}
