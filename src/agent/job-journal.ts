import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MigrationMark } from './install/steps/install-step.js';

/** A job as the journal remembers it. */
export interface JournalEntry {
  jobId: string;
  state: 'running' | 'finished';
  startedAt: string;
  /** The release that ran before this install, written just before `current` is switched. */
  previous?: number | null;
  /** Written when the install failed and started going back to `previous`: why it failed. */
  reverting?: { error: string | null };
  /** How far its migrations got: a resumed job never runs them twice. */
  migration?: MigrationMark;
  result?: { ok: boolean; rolledBack: boolean; error: string | null };
  /** Not run: the server said it no longer wanted it. */
  declined?: boolean;
}

/**
 * The agent's record of the jobs it ran, one small file per job under
 * `<root>/agent/journal`, each written atomically. A job delivered again is
 * looked up here: a finished one re-reports its result instead of running again.
 */
export class JobJournal {
  constructor(private readonly dir: string) {}

  async get(jobId: string): Promise<JournalEntry | undefined> {
    try {
      return JSON.parse(await readFile(this.file(jobId), 'utf8')) as JournalEntry;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async put(entry: JournalEntry): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = this.file(entry.jobId);
    const temp = `${file}.partial`;
    await writeFile(temp, JSON.stringify(entry), { mode: 0o600 });
    await rename(temp, file);
  }

  private file(jobId: string): string {
    if (!/^[A-Za-z0-9_-]{1,100}$/.test(jobId)) throw new Error(`not a job id: ${jobId}`);
    return path.join(this.dir, `${jobId}.json`);
  }
}
