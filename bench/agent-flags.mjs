#!/usr/bin/env node
// Does the V8 setting `ferry agent` runs with (`leanAgentHeap`, src/agent/lean-heap.ts)
// slow an install's own work? Makes a ~20 MB bundle (20 files of 1 MiB of random
// bytes, and --small small files), then, in fresh processes, alternately without
// and with the setting (A B A B ...), hashes the archive (sha256File) and unpacks it
// (unpackBundle, with the archive's sha256 checked on the way and, with
// --check-files, every file's too), and reports each side's median CPU seconds
// (utime + stime of the process, from process.cpuUsage) and wall time of that work.
//
//   node bench/agent-flags.mjs [--runs 7] [--small 500] [--check-files] [--v8='--no-opt']
//
// --v8 compares other V8 flags (set the same way, once the process runs) instead.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '7' },
    small: { type: 'string', default: '500' },
    'check-files': { type: 'boolean', default: false },
    child: { type: 'string' },
    lean: { type: 'boolean', default: false },
    archive: { type: 'string' },
    sha256: { type: 'string' },
    v8: { type: 'string' },
  },
});

if (values.child) {
  // One measured install's work, in a process of its own.
  if (values.lean && values.v8) {
    const { setFlagsFromString } = await import('node:v8');
    setFlagsFromString(values.v8);
  } else if (values.lean) {
    const { leanAgentHeap } = await import('../dist/agent/lean-heap.js');
    leanAgentHeap();
  }
  const { sha256File } = await import('../dist/bundle/hashing.js');
  const { unpackBundle } = await import('../dist/bundle/unpack.js');
  const cpu = process.cpuUsage();
  const started = performance.now();
  const sha256 = await sha256File(values.archive);
  if (sha256 !== values.sha256) throw new Error('the archive hashed differently');
  await unpackBundle({
    archive: values.archive,
    dest: values.child,
    expectedSha256: sha256,
    checkFileHashes: values['check-files'],
  });
  const used = process.cpuUsage(cpu);
  process.stdout.write(
    JSON.stringify({
      cpu: (used.user + used.system) / 1e6,
      wall: (performance.now() - started) / 1000,
    }),
  );
  process.exit(0);
}

const runs = Number(values.runs);
const work = await mkdtemp(path.join(os.tmpdir(), 'ferry-agent-flags-'));
try {
  const source = path.join(work, 'src');
  await mkdir(path.join(source, 'padding'), { recursive: true });
  await mkdir(path.join(source, 'lib'), { recursive: true });
  await writeFile(
    path.join(source, 'ferry.yml'),
    'apps:\n  flags:\n    service: { command: node server.js }\n',
  );
  await writeFile(path.join(source, 'server.js'), 'setInterval(() => {}, 1000);\n');
  for (let i = 0; i < 20; i++) {
    await writeFile(path.join(source, 'padding', `blob-${i}.bin`), randomBytes(1024 * 1024));
  }
  for (let i = 0; i < Number(values.small); i++) {
    await writeFile(
      path.join(source, 'lib', `m${i}.js`),
      `export const v${i} = ${JSON.stringify(randomBytes(600).toString('base64'))};\n`,
    );
  }
  const { createBundle } = await import('../dist/bundle/pack.js');
  const bundle = await createBundle({ sourceDir: source, out: path.join(work, 'flags.tar.gz') });

  const once = (lean, n) =>
    new Promise((resolve, reject) => {
      const args = [
        new URL(import.meta.url).pathname,
        '--child',
        path.join(work, `release-${n}`),
        '--archive',
        bundle.file,
        '--sha256',
        bundle.sha256,
        ...(lean ? ['--lean'] : []),
        ...(values.v8 ? [`--v8=${values.v8}`] : []),
        ...(values['check-files'] ? ['--check-files'] : []),
      ];
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('close', (code) =>
        code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child ${code}`)),
      );
    });
  const results = { plain: [], lean: [] };
  for (let n = 0; n < runs; n++) {
    for (const lean of n % 2 ? [true, false] : [false, true]) {
      results[lean ? 'lean' : 'plain'].push(await once(lean, `${n}-${lean}`));
      await rm(path.join(work, `release-${n}-${lean}`), { recursive: true, force: true });
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(
    `${os.cpus().length} cores (${os.cpus()[0]?.model}), Node ${process.version}, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(
        ' ',
      )}; bundle ${(bundle.size / 1048576).toFixed(1)} MiB, ${bundle.meta.files.length} files, ${runs} runs each, interleaved${values['check-files'] ? ', every file hashed' : ''}; lean = ${values.v8 ?? 'leanAgentHeap()'}`,
  );
  for (const [side, list] of Object.entries(results)) {
    console.log(
      `${side.padEnd(5)}: CPU median ${median(list.map((r) => r.cpu)).toFixed(3)} s (${list.map((r) => r.cpu.toFixed(2)).join(' ')}), wall median ${median(list.map((r) => r.wall)).toFixed(3)} s`,
    );
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
