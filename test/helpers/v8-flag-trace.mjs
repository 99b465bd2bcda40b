// A preload that records the V8 settings a Node process sets for itself:
//   FERRY_V8_FLAG_TRACE=/tmp/flags node --import ./test/helpers/v8-flag-trace.mjs dist/main.js agent …
// Each `v8.setFlagsFromString` call is appended to the file, one a line, before V8
// takes it; test/lean-agent.test.ts reads it to see the agent's heap setting
// change around a job.
import { appendFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';

if (process.env.FERRY_V8_FLAG_TRACE) {
  const out = process.env.FERRY_V8_FLAG_TRACE;
  const v8 = createRequire(import.meta.url)('node:v8');
  const set = v8.setFlagsFromString;
  v8.setFlagsFromString = (flags) => {
    appendFileSync(out, `${flags}\n`);
    set(flags);
  };
  // `import { setFlagsFromString } from 'node:v8'` sees the wrapper too.
  syncBuiltinESMExports();
}
