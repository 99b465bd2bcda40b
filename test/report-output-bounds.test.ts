import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { environmentsSchema } from '../src/server/environment-config.js';
import { QUOTE_MAX } from '../src/server/reports/findings/warnings.js';
import {
  gatherReportFacts,
  REPORT_OUTPUT_BOUNDS,
} from '../src/server/reports/gather-report-facts.js';
import { ReportService } from '../src/server/reports/report-service.js';
import { readReportPieces } from '../src/store/kysely/kysely-report-logs.js';
import type { Store } from '../src/store/store.js';
import { STORE_DIALECTS, type StoreUnderTest } from './helpers/store-dialects.js';

/**
 * A release report reads a bounded part of each step's output, however much a
 * host stored: 20 MB of output in the store, and what the report gathered stays
 * within `REPORT_OUTPUT_BOUNDS` (a check of sizes, not of time).
 */

const PIECE = 256 * 1024;
const MB = 1024 * 1024;
const environments = environmentsSchema.parse([{ name: 'qa' }, { name: 'prod' }]);

/**
 * `count` pieces of one stream, as an agent sends them: the first with a warning, the last
 * with the error. Gives the length of the largest piece stored.
 */
async function storeOutput(
  store: Store,
  step: string,
  stream: 'stdout' | 'stderr',
  bytes: number,
  last: string,
) {
  const filler = `${'x'.repeat(99)}\n`.repeat(PIECE / 100).slice(0, PIECE);
  const pieces = Math.ceil(bytes / PIECE);
  let largest = 0;
  for (let seq = 0; seq < pieces; seq++) {
    let text = filler;
    if (seq === 0) text = `npm warn deprecated left-pad@1.0.0\n${filler.slice(35)}`;
    if (seq === pieces - 1) text = `${filler.slice(0, PIECE - last.length)}${last}`;
    await store.installs.recordStep('ins_big', { kind: 'output', step, stream, seq, text });
    largest = Math.max(largest, text.length);
  }
  return largest;
}

for (const dialect of STORE_DIALECTS) {
  describe.skipIf(!dialect.available)(`a report over large step output: ${dialect.name}`, () => {
    let under: StoreUnderTest;
    let store: Store;
    beforeEach(async () => {
      under = await dialect.open();
      store = under.store;
    });
    afterEach(async () => {
      await under.close();
    });

    it('gathers at most the head of each stream and a failed step’s tail, with its last lines cut', async () => {
      await store.bundles.record(
        {
          app: 'web',
          sha256: 'a'.repeat(64),
          size: 10,
          label: '0.4.0',
          commit: null,
          dirty: null,
          fileCount: 1,
          createdAt: '2026-11-01T00:00:00.000Z',
          pushedBy: 'alice',
          manifest: { role: 'web', install: [] },
        },
        () => Promise.resolve(),
      );
      await store.hosts.create({
        id: 'host_qa',
        name: 'qa-1',
        env: 'qa',
        roles: ['web'],
        vars: {},
      });
      await store.installs.create({
        id: 'ins_big',
        hostId: 'host_qa',
        app: 'web',
        version: 1,
        createdBy: 'alice',
      });
      const at = '2026-11-02T00:00:00.000Z';
      const largest = new Map<string, number>();
      for (const [step, ok] of [
        ['install', true],
        ['migrate', false],
      ] as const) {
        await store.installs.recordStep('ins_big', { kind: 'started', step, at });
        // 10 MB of stdout, and of stderr a progress bar redrawn with \r: one 2 MB line, then the error.
        largest.set(`${step} stdout`, await storeOutput(store, step, 'stdout', 10 * MB, 'done\n'));
        largest.set(
          `${step} stderr`,
          await storeOutput(
            store,
            step,
            'stderr',
            10 * MB,
            `${'#'.repeat(2 * MB)}\r\nERROR: relation "carts" does not exist\n`,
          ),
        );
        await store.installs.recordStep('ins_big', {
          kind: 'finished',
          step,
          ok,
          exitCode: ok ? 0 : 1,
          durationMs: 1000,
          error: null,
          at,
        });
      }
      await store.installs.finish('ins_big', { ok: false, rolledBack: false, error: null, at });

      const { headChars, tailChars } = REPORT_OUTPUT_BOUNDS;
      // What the database gives the server, before any cut in JavaScript: of each stream,
      // the pieces of its head (and of a failed step's tail), each a piece at most past it.
      const pieces = await readReportPieces(under.kysely(), ['ins_big'], REPORT_OUTPUT_BOUNDS);
      const read = new Map<string, number>();
      for (const p of pieces)
        read.set(`${p.step} ${p.stream}`, (read.get(`${p.step} ${p.stream}`) ?? 0) + p.text.length);
      expect([...read.keys()].sort()).toEqual([...largest.keys()].sort());
      for (const [stream, chars] of read) {
        const piece = largest.get(stream)!;
        const tail = stream.startsWith('migrate') ? tailChars + piece : 0;
        expect(chars, stream).toBeLessThan(headChars + piece + tail);
      }

      const facts = await gatherReportFacts(store, { kind: 'label', label: '0.4.0' }, environments);
      const [entry] = facts.installs;
      expect(entry!.logs.map((l) => l.step)).toEqual(['install', 'migrate']);
      for (const log of entry!.logs) {
        expect(log.stdout.length).toBe(headChars);
        expect(log.stderr.length).toBe(headChars);
      }
      expect(entry!.logs[0]!.tail).toBeNull();
      expect(entry!.logs[1]!.tail!.stdout.length).toBe(tailChars);
      expect(
        entry!.logs[1]!.tail!.stderr.endsWith('ERROR: relation "carts" does not exist\n'),
      ).toBe(true);
      const gathered = entry!.logs.reduce(
        (n, l) =>
          n +
          l.stdout.length +
          l.stderr.length +
          (l.tail?.stdout.length ?? 0) +
          (l.tail?.stderr.length ?? 0),
        0,
      );
      expect(gathered).toBeLessThanOrEqual(4 * headChars + 2 * tailChars);

      const report = await new ReportService(store, environments).reportOf({
        kind: 'label',
        label: '0.4.0',
      });
      const failure = report.environments[0]!.hosts[0]!.installs[0]!.failure!;
      expect(failure.step).toBe('migrate');
      expect(failure.lastLines.at(-1)).toBe('ERROR: relation "carts" does not exist');
      expect(failure.lastLines.at(-2)).toBe('#'.repeat(QUOTE_MAX));
      expect(report.findings.map((f) => f.key)).toContain('warnings/web/qa/npm');
    }, 120_000);
  });
}
