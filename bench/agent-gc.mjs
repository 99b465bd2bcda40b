#!/usr/bin/env node
// A long-lived agent at work: one real `ferry server` and one real `ferry agent`
// (with bench/gc-trace.mjs preloaded), 2 deploys (fresh v1, v2 over v1) and 12
// rollbacks (v1, v2, …) of a 20 MB zero-dependency app; then the agent stops and
// its garbage collections (count, time, kinds) and CPU seconds over its whole
// life are printed as one JSON line. --drop-flags all|size leaves out the V8
// settings `ferry agent` sets for itself (all, or --optimize-for-size), to compare.
//
//   node bench/agent-gc.mjs [--drop-flags all|size]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FERRY_MAIN } from '../dist/dev/ferry-child.js';
import { LocalCluster } from '../dist/dev/local-cluster.js';
import { stopServices } from '../dist/dev/stop-services.js';
import { serviceManifest } from './service-manifest.mjs';

const TRACE = fileURLToPath(new URL('./gc-trace.mjs', import.meta.url));
const { values } = parseArgs({ options: { 'drop-flags': { type: 'string' } } });
const drop = values['drop-flags'];
if (drop !== undefined && drop !== 'all' && drop !== 'size')
  throw new Error('--drop-flags all|size');

const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-agent-gc-'));
const gcOut = path.join(work, 'gc.json');
const padding = Array.from({ length: 20 }, () => randomBytes(1024 * 1024));
const dirs = {};
for (const version of ['v1', 'v2']) {
  const dir = (dirs[version] = path.join(work, 'src', version));
  await mkdir(path.join(dir, 'padding'), { recursive: true });
  await writeFile(path.join(dir, 'ferry.yml'), serviceManifest('gcapp'));
  await writeFile(
    path.join(dir, 'server.js'),
    `const http = require('node:http');
const server = http.createServer((request, response) => response.end(${JSON.stringify(version)}));
server.listen(Number(process.env.APP_PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`,
  );
  for (const [i, bytes] of padding.entries()) {
    await writeFile(path.join(dir, 'padding', `blob-${i}.bin`), bytes);
  }
}

const cluster = await LocalCluster.start({
  root: path.join(work, 'cluster'),
  server: {
    config: "environments:\n  - { name: qa, strategy: { batch: '100%', maxFailures: 0 } }\n",
  },
  agentEnv: {
    ...process.env,
    NODE_OPTIONS: `--import=${TRACE}`,
    FERRY_GC_TRACE: gcOut,
    ...(drop ? { FERRY_GC_DROP_FLAGS: drop } : {}),
  },
});
const env = {
  ...process.env,
  FERRY_SERVER: cluster.url,
  FERRY_CA_FILE: cluster.server.caFile,
  FERRY_TOKEN: cluster.server.adminToken,
  FERRY_CONFIG_DIR: path.join(work, 'cli'),
};
const ferry = (args) =>
  JSON.parse(
    execFileSync(process.execPath, [FERRY_MAIN, ...args, '--json'], {
      env,
      encoding: 'utf8',
      maxBuffer: 1e8,
    }),
  );
let failed = false;
try {
  await cluster.addHost({ name: 'h1', env: 'qa', roles: ['gcapp'] });
  const v = {};
  for (const version of ['v1', 'v2']) {
    v[version] = ferry(['push', dirs[version], '--label', version]).bundle.version;
  }
  const ended = [
    ferry(['deploy', `gcapp@${v.v1}`, '--env', 'qa']),
    ferry(['deploy', `gcapp@${v.v2}`, '--env', 'qa']),
  ];
  for (let i = 0; i < 12; i++) {
    const to = String(i % 2 ? v.v2 : v.v1);
    ended.push(ferry(['rollback', 'gcapp', '--env', 'qa', '--to', to, '--yes']));
  }
  const notSucceeded = ended.filter((d) => d.state !== 'succeeded');
  failed = notSucceeded.length > 0;
  await cluster.stopAgent('h1');
  await stopServices(cluster.host('h1').root, 2000);
  const gc = JSON.parse(await readFile(gcOut, 'utf8'));
  console.log(
    JSON.stringify({
      flags: drop ? `dropped: ${drop}` : "the agent's own",
      load: os.loadavg().map((l) => l.toFixed(2)),
      notSucceeded: notSucceeded.map((d) => `${d.id} ${d.state}`),
      ...gc,
    }),
  );
} finally {
  await cluster.stop();
  await rm(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
