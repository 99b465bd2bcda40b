#!/usr/bin/env node
// The CLI's own start: what `ferry --version`, `ferry rollback --help`, and
// `ferry status` / `ferry rollback` up to their first request cost, in CPU
// seconds (utime + stime from /proc) and wall seconds, medians of --runs.
//
//   node bench/cli-start.mjs [--runs 10] [--side NAME=DIST_DIR ...]
//
// Each --side is a built `dist/` folder (default: dist): with two or more the
// sides take turns within each run (A B, then B A), so they share the load.
// The requests go to a stub HTTP server in this process that records when the
// first one arrives, reads the command's CPU at that moment and answers 503,
// so the command stops there: what is measured is its start, not the server.
// Nothing here is a test; figures go in bench/README.md ("The CLI's own start").
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    side: { type: 'string', multiple: true, default: ['dist=dist'] },
  },
});
const runs = Number(values.runs);
const sides = values.side.map((text) => {
  const [name, dir] = text.includes('=') ? text.split('=') : [text, text];
  return { name, main: path.resolve(dir, 'main.js') };
});

const TICK = 100; // clock ticks per second (getconf CLK_TCK on Linux)
/** utime + stime (fields 14, 15) and cutime + cstime (16, 17) of a process, in seconds. */
function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return {
    self: (Number(fields[11]) + Number(fields[12])) / TICK,
    children: (Number(fields[13]) + Number(fields[14])) / TICK,
  };
}

let onRequest = () => {};
const server = createServer((req, res) => {
  onRequest(req);
  res.writeHead(503, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { code: 'E_INTERNAL', message: 'bench stub' } }));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const home = mkdtempSync(path.join(os.tmpdir(), 'ferry-cli-start-'));
const env = {
  ...process.env,
  HOME: home,
  XDG_CONFIG_HOME: home,
  FERRY_SERVER: `http://127.0.0.1:${server.address().port}`,
  FERRY_TOKEN: 'bench-token',
};

const CASES = [
  { name: 'ferry --version', args: ['--version'] },
  { name: 'ferry rollback --help', args: ['rollback', '--help'] },
  { name: 'ferry status (to its first request)', args: ['status'], request: true },
  {
    name: 'ferry rollback (to its first request)',
    args: ['rollback', 'cart', '--env', 'qa'],
    request: true,
  },
];

/**
 * Runs one command under a shell that prints its own children's CPU once the
 * command is reaped: the command's whole CPU. With `request`, also its CPU and
 * wall time when the first request reached the stub.
 */
function measure(main, args) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const shell = spawn(
      'sh',
      ['-c', 'node "$@" >/dev/null 2>&1; cat /proc/$$/stat', 'sh', main, ...args],
      { env, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let first;
    onRequest = () => {
      if (first) return;
      const at = process.hrtime.bigint();
      const [child] = readFileSync(`/proc/${shell.pid}/task/${shell.pid}/children`, 'utf8')
        .trim()
        .split(' ');
      first = { wall: Number(at - started) / 1e9, cpu: cpuOf(child).self };
    };
    let out = '';
    shell.stdout.on('data', (chunk) => (out += chunk));
    shell.on('error', reject);
    shell.on('close', () => {
      const wall = Number(process.hrtime.bigint() - started) / 1e9;
      const fields = out.split(') ')[1].split(' ');
      const cpu = (Number(fields[13]) + Number(fields[14])) / TICK;
      resolve({ wall, cpu, first });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');

console.log(
  `load average at the start: ${load()}; ${runs} runs; sides ${sides.map((s) => `${s.name}=${s.main}`).join(', ')}`,
);
const results = new Map(); // `${case}\t${side}` → [{ wall, cpu, first }]
for (let run = 0; run < runs; run++) {
  for (const c of CASES) {
    const order = run % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) {
      const r = await measure(side.main, c.args);
      if (c.request && !r.first) throw new Error(`${side.name}: ${c.name} sent no request`);
      const key = `${c.name}\t${side.name}`;
      results.set(key, [...(results.get(key) ?? []), r]);
    }
  }
}
console.log(`load average at the end: ${load()}\n`);
console.log(
  '| command | side | CPU s (median) | wall s (median) | to the first request: CPU s / wall s |',
);
console.log('| --- | --- | --- | --- | --- |');
for (const c of CASES) {
  for (const side of sides) {
    const rs = results.get(`${c.name}\t${side.name}`);
    const first = c.request
      ? `${median(rs.map((r) => r.first.cpu)).toFixed(3)} / ${median(rs.map((r) => r.first.wall)).toFixed(3)}`
      : '–';
    console.log(
      `| ${c.name} | ${side.name} | ${median(rs.map((r) => r.cpu)).toFixed(3)} | ${median(rs.map((r) => r.wall)).toFixed(3)} | ${first} |`,
    );
  }
}
server.close();
rmSync(home, { recursive: true, force: true });
