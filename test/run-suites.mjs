#!/usr/bin/env node
// `npm test`: every suite, in two vitest runs, and the exit code of both.
// The broker-restart suite stops and starts RabbitMQ, which would break the
// RabbitMQ suites running beside it, so it runs alone after the rest. The
// second run happens whatever the first one's outcome: a failure in one never
// hides the other's, and the summary at the end names each run that failed.
// Arguments are passed to both runs (`npm test -- --reporter=dot`).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const ALONE = 'test/rabbitmq-broker-restart.test.ts';
const extra = process.argv.slice(2);

const runs = [
  { name: 'every suite but the broker restart', args: ['run', '--exclude', ALONE, ...extra] },
  { name: `the broker restart (${ALONE}), alone`, args: ['run', ALONE, ...extra] },
];

const failed = [];
for (const run of runs) {
  process.stdout.write(`\n== npm test: ${run.name}\n`);
  const result = spawnSync(process.execPath, [VITEST, ...run.args], { stdio: 'inherit' });
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
