import { type Kysely, sql } from 'kysely';
import type { StepLog } from '../../protocol/api.js';
import type { OutputBounds, ReportInstallLogs, ReportStepLog } from '../install-store.js';
import type { Database } from '../schema.js';

/**
 * One stored piece of a step's output as the report's query returns it, with
 * the characters of its stream before and after it (null at either end).
 */
export interface ReportPiece {
  install_id: string;
  step: string;
  stream: string;
  text: string;
  before: number | string | null;
  after: number | string | null;
}

/**
 * The bounded read of step output a release report makes
 * (`InstallStore.logsForReport`), for at most 500 installs (one `in (…)`).
 *
 * Output is stored in the pieces it arrived in (at most 256 KiB each), with
 * no limit on their number. The database sums the pieces' lengths in a window
 * over each stream (the text itself is not carried through the window), and
 * only the pieces that start within the first `headChars`, or, for a failed
 * step, that end within the last `tailChars`, are read: what the server
 * holds grows with the bounds, not with the output.
 */
export async function readReportLogs(
  db: Kysely<Database>,
  ids: readonly string[],
  bounds: OutputBounds,
): Promise<ReportInstallLogs[]> {
  if (ids.length === 0) return [];
  const steps = await db
    .selectFrom('install_steps')
    .select(['install_id', 'step', 'state', 'exit_code', 'duration_ms'])
    .where('install_id', 'in', ids)
    .orderBy('install_id')
    .orderBy('position')
    .execute();
  const rows = await readReportPieces(db, ids, bounds);

  // Per install, step and stream: the pieces of its head and of its tail, in order.
  const head = new Map<string, string[]>();
  const tail = new Map<string, string[]>();
  for (const row of rows) {
    const key = `${row.install_id}\u0000${row.step}\u0000${row.stream}`;
    if (Number(row.before ?? 0) < bounds.headChars) push(head, key, row.text);
    if (Number(row.after ?? 0) < bounds.tailChars) push(tail, key, row.text);
  }
  const headOf = (id: string, step: string, stream: string) =>
    (head.get(`${id}\u0000${step}\u0000${stream}`) ?? []).join('').slice(0, bounds.headChars);
  const tailOf = (id: string, step: string, stream: string) => {
    const text = (tail.get(`${id}\u0000${step}\u0000${stream}`) ?? []).join('');
    return text.length > bounds.tailChars ? text.slice(-bounds.tailChars) : text;
  };

  const byInstall = new Map<string, ReportStepLog[]>(ids.map((id) => [id, []]));
  for (const s of steps) {
    const state = s.state as StepLog['state'];
    byInstall.get(s.install_id)?.push({
      step: s.step,
      state,
      exitCode: s.exit_code === null ? null : Number(s.exit_code),
      durationMs: s.duration_ms === null ? null : Number(s.duration_ms),
      stdout: headOf(s.install_id, s.step, 'stdout'),
      stderr: headOf(s.install_id, s.step, 'stderr'),
      tail:
        state === 'failed'
          ? {
              stdout: tailOf(s.install_id, s.step, 'stdout'),
              stderr: tailOf(s.install_id, s.step, 'stderr'),
            }
          : null,
    });
  }
  const known = await db.selectFrom('installs').select('id').where('id', 'in', ids).execute();
  return known.map(({ id }) => ({ installId: id, steps: byInstall.get(id) ?? [] }));
}

/**
 * The pieces `readReportLogs` receives: only those that start within each
 * stream's first `headChars`, or end within a failed step's last `tailChars`
 * — the limit is the database's, and what crosses to the server is bounded by
 * it (a stream gives at most its head and tail, each and a piece more).
 */
export async function readReportPieces(
  db: Kysely<Database>,
  ids: readonly string[],
  bounds: OutputBounds,
): Promise<ReportPiece[]> {
  if (ids.length === 0) return [];
  const inIds = sql.join(ids.map((id) => sql`${id}`));
  const { rows } = await sql<ReportPiece>`
    with sized as (
      select install_id, step, stream, seq,
        sum(length(text)) over (partition by install_id, step, stream order by seq
          rows between unbounded preceding and 1 preceding) as before,
        sum(length(text)) over (partition by install_id, step, stream order by seq desc
          rows between unbounded preceding and 1 preceding) as after
      from step_output where install_id in (${inIds})
    )
    select o.install_id, o.step, o.stream, o.text, sized.before, sized.after
    from sized
    join step_output o on o.install_id = sized.install_id and o.step = sized.step
      and o.stream = sized.stream and o.seq = sized.seq
    left join install_steps s on s.install_id = sized.install_id and s.step = sized.step
    where coalesce(sized.before, 0) < ${bounds.headChars}
      or (s.state = 'failed' and coalesce(sized.after, 0) < ${bounds.tailChars})
    order by o.install_id, o.step, o.stream, o.seq
  `.execute(db);
  return rows;
}

function push(map: Map<string, string[]>, key: string, text: string): void {
  const list = map.get(key);
  if (list) list.push(text);
  else map.set(key, [text]);
}
