// A preload that records which modules a Node process loads:
//   FERRY_MODULE_TRACE=/tmp/trace node --import ./bench/module-trace.mjs dist/main.js agent …
// Every ES module (and each CommonJS module imported from one) is appended to the
// file as it loads, from the loader's hooks thread; every CommonJS module that was
// loaded at all (require() inside CommonJS packages included) is appended when the
// process exits, with the dependencies bundled in Node that it loaded (`node:internal/deps/…`).
// One `file://` URL, path or `node:` name a line; `bench/agent-memory.mjs --modules`
// and test/lean-agent.test.ts read it.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

/** The loader hook (runs on the hooks thread): writes each module's URL as it loads. */
export async function load(url, context, nextLoad) {
  if (process.env.FERRY_MODULE_TRACE) appendFileSync(process.env.FERRY_MODULE_TRACE, `${url}\n`);
  return nextLoad(url, context);
}

if (isMainThread && process.env.FERRY_MODULE_TRACE) {
  const out = process.env.FERRY_MODULE_TRACE;
  register(import.meta.url);
  const require = createRequire(import.meta.url);
  process.once('exit', () => {
    // Node's own bundled dependencies load lazily too: undici with the first
    // `fetch` (or `Headers`, `Response`), cjs-module-lexer with the first CommonJS import.
    const bundled = process.moduleLoadList
      .filter((name) => name.startsWith('NativeModule internal/deps/'))
      .map((name) => `node:${name.slice('NativeModule '.length)}`);
    const loaded = [...Object.keys(require.cache), ...bundled];
    if (loaded.length > 0) appendFileSync(out, `${loaded.join('\n')}\n`);
  });
}
