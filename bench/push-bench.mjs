#!/usr/bin/env node
// Push benchmark: makes a bundle of about --size bytes (default 1 GiB) of
// incompressible files, starts a real `ferry server`, pushes the bundle with the
// real CLI over loopback --runs times, and reports throughput and the server's
// RSS (baseline, peak, growth) sampled from /proc every 20 ms.
//
//   npm run bench                      # 1 GiB, 3 runs
//   node bench/push-bench.mjs --size 256MiB --runs 1
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LocalServer } from '../dist/dev/local-server.js';

const FERRY = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1GiB' },
    runs: { type: 'string', default: '3' },
    keep: { type: 'boolean', default: false },
    // A bundle made earlier (`--keep` prints where): pushed as it is, so that two
    // builds can be measured side by side on the same bytes without bundling again.
    bundle: { type: 'string' },
    // Extra NODE_OPTIONS for the server (`--import` a profiler, for one).
    'server-node-options': { type: 'string' },
    // The server speaks plain HTTP (`--insecure-http`): what a push costs without
    // TLS, as it would over a local socket. A measurement, not a way to run.
    'plain-http': { type: 'boolean', default: false },
  },
});
const size = parseSize(values.size);
const runs = Number(values.runs);

function parseSize(text) {
  const match = /^(\d+(?:\.\d+)?)\s*(B|KiB|MiB|GiB)?$/i.exec(text);
  if (!match) throw new Error(`--size: expected a size such as 1GiB or 256MiB, got ${text}`);
  const factor = { b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 }[
    (match[2] ?? 'B').toLowerCase()
  ];
  return Math.round(Number(match[1]) * factor);
}

const mb = (bytes) => (bytes / 1e6).toFixed(1);
const mib = (bytes) => (bytes / 1024 ** 2).toFixed(1);

/** Runs `ferry args`; resolves to its output and the CPU seconds it used (Linux: from /proc). */
function run(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FERRY, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let cpu = 0;
    // The last reading before the process goes: close enough for seconds of CPU.
    const sampler = setInterval(() => {
      cpuOf(child.pid).then(
        (seconds) => (cpu = Math.max(cpu, seconds)),
        () => {},
      );
    }, 20);
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => {
      clearInterval(sampler);
      code === 0
        ? resolve({ out, cpu })
        : reject(new Error(`ferry ${args[0]} exited ${code}: ${err}`));
    });
  });
}

/** CPU seconds of each thread of a process, by thread id. */
async function threadsOf(pid) {
  const byName = {};
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    const stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8').catch(() => undefined);
    if (!stat) continue;
    const name = tid === String(pid) ? 'main' : tid;
    const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
    byName[name] = (byName[name] ?? 0) + (Number(fields[11]) + Number(fields[12])) / 100;
  }
  return byName;
}

/** CPU seconds (user + system) a process has used so far, all its threads together. */
async function cpuOf(pid) {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function rssOf(pid) {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-bench-'));
let server;
try {
  // The source tree: 16 MiB files of random bytes, so gzip cannot shrink them and
  // the bundle is as large as asked (media assets, prebuilt binaries).
  const source = path.join(work, 'src');
  await mkdir(source, { recursive: true });
  await writeFile(
    path.join(source, 'ferry.yml'),
    'apps:\n  bench:\n    service: { command: node server.js }\n',
  );
  const fileSize = 16 * 1024 ** 2;
  for (let i = 0, left = values.bundle === undefined ? size : 0; left > 0; i++, left -= fileSize) {
    await writeFile(
      path.join(source, `blob-${String(i).padStart(4, '0')}.bin`),
      randomBytes(Math.min(fileSize, left)),
    );
  }

  let started;
  let bundleFile = values.bundle;
  if (bundleFile === undefined) {
    bundleFile = path.join(work, 'bench.tar.gz');
    started = performance.now();
    await run(['bundle', source, '--out', bundleFile]);
    const bundleSeconds = (performance.now() - started) / 1000;
    const made = (await stat(bundleFile)).size;
    console.log(
      `bundle: ${mb(made)} MB made in ${bundleSeconds.toFixed(2)} s (${mb(made / bundleSeconds)} MB/s)`,
    );
  }
  await rm(source, { recursive: true });
  const bundleSize = (await stat(bundleFile)).size;

  // Through the local-cluster harness: it resolves once the server answers its health check.
  server = await LocalServer.start({
    data: path.join(work, 'data'),
    ...(values['server-node-options'] === undefined
      ? {}
      : { env: { NODE_OPTIONS: values['server-node-options'] } }),
    ...(values['plain-http'] ? { args: ['--insecure-http'] } : {}),
  });
  await new Promise((r) => setTimeout(r, 500));
  const results = [];
  for (let i = 1; i <= runs; i++) {
    const baseline = await rssOf(server.child.pid);
    let peak = baseline;
    const sampler = setInterval(() => {
      rssOf(server.child.pid).then(
        (rss) => (peak = Math.max(peak, rss)),
        () => {},
      );
    }, 20);
    const cpuBefore = await cpuOf(server.child.pid);
    const threadsBefore = await threadsOf(server.child.pid);
    started = performance.now();
    const { out, cpu: clientCpu } = await run(['push', bundleFile], {
      FERRY_SERVER: server.url,
      ...(server.caPem === undefined ? {} : { FERRY_CA_FILE: server.caFile }),
      FERRY_TOKEN: server.adminToken,
    });
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const serverCpu = (await cpuOf(server.child.pid)) - cpuBefore;
    const threadsAfter = await threadsOf(server.child.pid);
    // The main thread, then the busiest others (checker threads, libuv's pool).
    const threads = Object.entries(threadsAfter)
      .map(([name, after]) => [name, after - (threadsBefore[name] ?? 0)])
      .sort(([a, x], [b, y]) => (a === 'main' ? -1 : b === 'main' ? 1 : y - x))
      .filter(([, seconds]) => seconds >= 0.05)
      .slice(0, 5)
      .map(([name, seconds]) => `${name === 'main' ? 'main' : 'thread'} ${seconds.toFixed(1)}`)
      .join(', ');
    const result = {
      run: i,
      seconds,
      serverCpu,
      mbPerSecond: bundleSize / seconds / 1e6,
      baseline,
      peak,
      growth: peak - baseline,
    };
    results.push(result);
    console.log(
      `push ${i}: ${out.split('\n')[0]} in ${seconds.toFixed(2)} s = ${result.mbPerSecond.toFixed(0)} MB/s; ` +
        `server CPU ${serverCpu.toFixed(1)} s (${threads}); CLI CPU ${clientCpu.toFixed(1)} s; ` +
        `server RSS ${mib(baseline)} MiB -> peak ${mib(peak)} MiB (growth ${mib(result.growth)} MiB)`,
    );
  }
  const best = Math.max(...results.map((r) => r.mbPerSecond));
  const worstGrowth = Math.max(...results.map((r) => r.growth));
  const speeds = results.map((r) => r.mbPerSecond).sort((a, b) => a - b);
  const median = speeds[Math.floor(runs / 2)];
  console.log(
    `summary: ${mb(bundleSize)} MB bundle, ${runs} pushes; best ${best.toFixed(0)} MB/s, ` +
      `median ${median.toFixed(0)} MB/s; ` +
      `largest server RSS growth ${mib(worstGrowth)} MiB; node ${process.version}, ${os.cpus().length} cores`,
  );
} finally {
  await server?.stop();
  if (!values.keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
