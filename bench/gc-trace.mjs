// A preload that counts a Node process's garbage collections and writes them, with
// its CPU seconds, when it exits:
//   FERRY_GC_TRACE=/tmp/gc.json node --import ./bench/gc-trace.mjs dist/main.js agent …
// Writes {count, ms, kinds: {minor, major, incremental, …}, cpu} (PerformanceObserver
// 'gc' entries; process.cpuUsage()). With FERRY_GC_DROP_FLAGS=all the V8 settings the
// process sets for itself (`v8.setFlagsFromString`) are not set; with =size, only
// those about --optimize-for-size are dropped. bench/agent-gc.mjs reads it.
import { writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { PerformanceObserver } from 'node:perf_hooks';

const KINDS = { 1: 'minor', 2: 'major', 4: 'major', 8: 'incremental', 16: 'weakcb' };

const out = process.env.FERRY_GC_TRACE;
if (out) {
  const totals = { count: 0, ms: 0, kinds: {} };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = KINDS[entry.detail?.kind] ?? String(entry.detail?.kind);
      totals.count++;
      totals.ms += entry.duration;
      totals.kinds[kind] = (totals.kinds[kind] ?? 0) + 1;
    }
  }).observe({ entryTypes: ['gc'] });
  process.once('exit', () => {
    const cpu = process.cpuUsage();
    writeFileSync(
      out,
      JSON.stringify({ ...totals, ms: Math.round(totals.ms), cpu: (cpu.user + cpu.system) / 1e6 }),
    );
  });
}

const drop = process.env.FERRY_GC_DROP_FLAGS;
if (drop) {
  const v8 = createRequire(import.meta.url)('node:v8');
  const set = v8.setFlagsFromString;
  v8.setFlagsFromString = (flags) => {
    if (drop === 'all' || flags.includes('optimize-for-size')) return;
    set(flags);
  };
  // `import { setFlagsFromString } from 'node:v8'` sees the wrapper too.
  syncBuiltinESMExports();
}
