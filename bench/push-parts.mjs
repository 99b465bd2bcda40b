#!/usr/bin/env node
// What a push is made of, each part alone, in CPU seconds of this process (all its
// threads) over one bundle file: reading it, one sha256 pass, inflating it, the
// server's whole check (`inspectBundle`: inflate, tar, every file's sha256), TLS
// (both ends, over loopback; and, to tell its own cost, plain TCP and a Unix
// socket), and writing it to a file. Their sum is what a push
// must spend at the least on a machine running both the CLI and the server.
//
//   node bench/push-parts.mjs --bundle /tmp/bench.tar.gz --runs 3
// (`node bench/push-bench.mjs --keep` leaves a bundle to measure.)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { createGunzip } from 'node:zlib';
import { inspectBundle } from '../dist/bundle/inspect-bundle.js';

const { values } = parseArgs({
  options: { bundle: { type: 'string' }, runs: { type: 'string', default: '3' } },
});
if (values.bundle === undefined) throw new Error('--bundle: the bundle file to measure');
const file = values.bundle;
const size = (await stat(file)).size;
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-push-parts-'));
const read = () => createReadStream(file, { highWaterMark: 1024 * 1024 });
/** A sink that drops what it is given. */
const drain = () =>
  new Writable({
    highWaterMark: 1024 * 1024,
    write: (_chunk, _encoding, callback) => callback(),
  });

// A throwaway certificate for the TLS part (needs the openssl command).
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    path.join(work, 'key.pem'),
    '-out',
    path.join(work, 'cert.pem'),
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
  ],
  { stdio: 'ignore' },
);
const key = readFileSync(path.join(work, 'key.pem'));
const cert = readFileSync(path.join(work, 'cert.pem'));

async function tlsBothEnds() {
  const server = tls.createServer({ key, cert }, (socket) => {
    socket.resume();
    socket.on('end', () => socket.end());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = tls.connect({
    port: server.address().port,
    host: '127.0.0.1',
    ca: cert,
    servername: 'localhost',
  });
  await new Promise((resolve) => socket.once('secureConnect', resolve));
  socket.resume();
  read().pipe(socket);
  await new Promise((resolve) => socket.on('close', resolve));
  server.close();
}

/**
 * The same bytes over a plain stream socket, both ends: TCP on loopback, or a
 * Unix socket at `listenOn` (what TLS costs is the difference from the TLS part).
 */
async function plainBothEnds(listenOn) {
  const server = net.createServer((socket) => {
    socket.resume();
    socket.on('end', () => socket.end());
  });
  await new Promise((resolve) =>
    listenOn === undefined
      ? server.listen(0, '127.0.0.1', resolve)
      : server.listen(listenOn, resolve),
  );
  const socket =
    listenOn === undefined
      ? net.connect({ port: server.address().port, host: '127.0.0.1' })
      : net.connect({ path: listenOn });
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.resume();
  read().pipe(socket);
  await new Promise((resolve) => socket.on('close', resolve));
  await new Promise((resolve) => server.close(resolve));
}

const parts = {
  read: () => pipeline(read(), drain()),
  sha256: () => pipeline(read(), createHash('sha256')),
  inflate: () => pipeline(read(), createGunzip({ chunkSize: 1024 * 1024 }), drain()),
  'check (inspectBundle)': () => inspectBundle(read()),
  'TLS, both ends': tlsBothEnds,
  'TCP, both ends': () => plainBothEnds(undefined),
  'Unix socket, both ends': () => plainBothEnds(path.join(work, 'sock')),
  write: () => pipeline(read(), createWriteStream(path.join(work, 'copy'))),
};
const results = Object.fromEntries(Object.keys(parts).map((name) => [name, []]));
try {
  // Interleaved, so that the machine's drift falls on every part alike.
  for (let run = 0; run < Number(values.runs); run++) {
    for (const [name, part] of Object.entries(parts)) {
      const before = process.cpuUsage();
      await part();
      const used = process.cpuUsage(before);
      results[name].push((used.user + used.system) / 1e6);
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
console.log(
  `${(size / 1e6).toFixed(1)} MB, ${values.runs} runs, CPU seconds (median) and MB per CPU second:`,
);
for (const [name, seconds] of Object.entries(results)) {
  const median = seconds.sort((a, b) => a - b)[Math.floor(seconds.length / 2)];
  console.log(
    `  ${name.padEnd(24)} ${median.toFixed(2)} s  ${(size / median / 1e6).toFixed(0).padStart(5)} MB/s  (${seconds.map((s) => s.toFixed(2)).join(', ')})`,
  );
}
