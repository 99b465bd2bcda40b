import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { ServiceSpec } from '../process-driver.js';

/**
 * What the builtin driver keeps on disk for one service, in
 * `<state folder>/<name>.json`, so that a restarted agent finds its services.
 */
export interface ServiceRecord {
  spec: ServiceSpec;
  /** False once the service was stopped on purpose: supervision leaves it stopped. */
  wanted: boolean;
  /** The process group leader (the `/bin/sh -c` process) while it runs. */
  pid: number | null;
  /** `/proc/<pid>/stat` field 22 of that process, to tell it from a later process with the same pid. */
  startTime: string | null;
  /** When it was spawned (ms since the epoch), to reset the backoff once it stayed up. */
  startedAt: number | null;
}

const recordSchema = z.strictObject({
  spec: z.strictObject({
    name: z.string(),
    cwd: z.string(),
    command: z.string(),
    env: z.record(z.string(), z.string()),
    stdoutFile: z.string(),
    stderrFile: z.string(),
    // Checked against the signal table by checkServiceSpec before it was saved.
    stopSignal: z.custom<NodeJS.Signals>((value) => typeof value === 'string'),
    stopTimeoutMs: z.number(),
  }),
  wanted: z.boolean(),
  pid: z.number().int().positive().nullable(),
  startTime: z.string().nullable(),
  startedAt: z.number().nullable(),
});

/** Writes a record atomically (a temporary file renamed over the old one), so a crash never leaves half a file. */
export async function writeServiceRecord(folder: string, record: ServiceRecord): Promise<void> {
  const file = path.join(folder, `${record.spec.name}.json`);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  await rename(temporary, file);
}

/** Reads every record of the folder; a file that cannot be read is reported through `onBadFile` and skipped. */
export async function readServiceRecords(
  folder: string,
  onBadFile: (file: string, error: unknown) => void,
): Promise<ServiceRecord[]> {
  const records: ServiceRecord[] = [];
  for (const entry of await readdir(folder)) {
    if (!entry.endsWith('.json')) continue;
    const file = path.join(folder, entry);
    try {
      const parsed = recordSchema.parse(JSON.parse(await readFile(file, 'utf8')));
      if (`${parsed.spec.name}.json` !== entry)
        throw new Error('the file name does not match the service');
      records.push(parsed);
    } catch (error) {
      onBadFile(file, error);
    }
  }
  return records;
}
