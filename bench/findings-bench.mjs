#!/usr/bin/env node
// Findings benchmark: builds the ReportFacts of a release of three apps on
// --hosts hosts (qa and prod), each install with 10 steps whose stdout and
// stderr hold --kib KiB of output (a few warnings among plain lines, a manifest
// pattern of its own), then times makeFindings --runs times and prints each run
// and the median. Pure computation: no server, no database.
//
//   npm run build && node bench/findings-bench.mjs --hosts 50 --kib 16 --runs 5
import { parseArgs } from 'node:util';
import {
  bundle,
  host,
  install,
  reportFacts,
} from '../dist/server/reports/findings/findings-fixture.js';
import { makeFindings } from '../dist/server/reports/findings/make-findings.js';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '50' },
    kib: { type: 'string', default: '16' },
    runs: { type: 'string', default: '5' },
  },
});
const hostCount = Number(values.hosts);
const runs = Number(values.runs);
const apps = ['front', 'back', 'mq'];
const STEPS = ['fetch', 'verify', 'unpack', 'install', 'migrate', 'switch', 'start', 'health'];

const plain = 'added 1 package, and audited 2 packages in 310ms\n';
const lines = Math.max(1, Math.floor((Number(values.kib) * 1024) / plain.length));
const output =
  plain.repeat(lines) + 'npm WARN deprecated inflight@1.0.6\nWARNING:  relation exists\n';

const hosts = [];
const installs = [];
for (let i = 0; i < hostCount; i++) {
  const env = i < hostCount / 5 ? 'qa' : 'prod';
  hosts.push(
    host(`host-${i}`, env, {
      roles: apps,
      runtimes: { node: i % 7 === 0 ? '18.19.0' : '20.11.1' },
      apps: Object.fromEntries(
        apps.map((app) => [
          app,
          {
            current: 1,
            service: {
              running: true,
              mergedOutput: i % 9 === 0,
              stdoutBytes: 0,
              uptimeSeconds: 600,
            },
          },
        ]),
      ),
    }),
  );
  for (const app of apps) {
    const logs = [...STEPS, 'service-output', 'prune'].map((step) => ({
      step,
      stdout: output,
      stderr: output,
      durationMs: i === 3 && step === 'install' ? 60_000 : 1000,
    }));
    installs.push(install(`host-${i}`, env, logs, { app, version: 1 }));
  }
}
const facts = reportFacts({
  bundles: apps.map((app) =>
    bundle(app, 1, { service: { command: 'python3 app.py' }, report: { warnings: ['^SLOW'] } }),
  ),
  hosts,
  installs,
});
const bytes = installs.reduce(
  (n, i) => n + i.logs.reduce((m, l) => m + l.stdout.length + l.stderr.length, 0),
  0,
);
console.log(
  `${hostCount} hosts, ${installs.length} installs, ${(bytes / 1024 / 1024).toFixed(1)} MiB of step output`,
);
const times = [];
for (let run = 1; run <= runs; run++) {
  const start = performance.now();
  const findings = makeFindings(facts);
  const ms = performance.now() - start;
  times.push(ms);
  console.log(`run ${run}: ${findings.length} findings in ${ms.toFixed(0)} ms`);
}
times.sort((a, b) => a - b);
console.log(`median: ${times[Math.floor(times.length / 2)].toFixed(0)} ms`);
