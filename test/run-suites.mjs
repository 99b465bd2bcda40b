#!/usr/bin/env node
// `npm test`: every suite, in two vitest runs, and the exit code of both.
// The broker-restart suite stops and starts RabbitMQ, which would break the
// RabbitMQ suites running beside it, so it runs alone after the rest. The
// second run happens whatever the first one's outcome: a failure in one never
// hides the other's, and the summary at the end names each run that failed.
// Arguments are passed to both runs (`npm test -- --reporter=dot`).
//
// Two `npm test` at once on one machine share its RabbitMQ: the first run holds
// a shared lock on a file while it runs, the broker restart an exclusive one,
// so that no broker restarts under another checkout's RabbitMQ suites (util-linux
// `flock`; without it, the runs go unlocked).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const ALONE = 'test/rabbitmq-broker-restart.test.ts';
const extra = process.argv.slice(2);

const LOCK = path.join(os.tmpdir(), 'ferry-test-rabbitmq.lock');
const HAS_FLOCK = spawnSync('flock', ['--version'], { stdio: 'ignore' }).status === 0;

const runs = [
  {
    name: 'every suite but the broker restart',
    lock: '--shared',
    args: ['run', '--exclude', ALONE, ...extra],
  },
  {
    name: `the broker restart (${ALONE}), alone`,
    lock: '--exclusive',
    args: ['run', ALONE, ...extra],
  },
];

const failed = [];
for (const run of runs) {
  process.stdout.write(`\n== npm test: ${run.name}\n`);
  const command = [process.execPath, VITEST, ...run.args];
  const [file, ...args] = HAS_FLOCK ? ['flock', run.lock, LOCK, ...command] : command;
  const result = spawnSync(file, args, { stdio: 'inherit' });
  const code = result.status ?? 1;
  if (code !== 0)
    failed.push(`${run.name}: exit ${code}${result.signal ? ` (${result.signal})` : ''}`);
}
if (failed.length > 0) {
  process.stdout.write(`\n== npm test FAILED in ${failed.length} of ${runs.length} runs:\n`);
  for (const line of failed) process.stdout.write(`  ${line}\n`);
  process.exit(1);
}
process.stdout.write(`\n== npm test: all ${runs.length} runs passed\n`);
