import type { Kysely } from 'kysely';
import type { InstallStep } from '../../protocol/api.js';
import type { InstallChange, InstallOutcome, StepReport, StoredInstall } from '../install-store.js';
import type { Database } from '../schema.js';
import { installStatements } from './kysely-install-statements.js';
import { toInstall, toStep } from './kysely-install-rows.js';

/**
 * An install's record without its steps (`InstallStore.get(id, { steps: false })`),
 * by its statement compiled once: read for every step an agent reports.
 */
export async function installWithoutSteps(
  db: Kysely<Database>,
  id: string,
): Promise<StoredInstall | undefined> {
  const { rows } = await installStatements.installById.execute(db, { id });
  return rows[0] && toInstall(rows[0], []);
}

/**
 * Records a step an agent reports (`InstallStore.recordStep`): a piece of its
 * output, its start or its end, and what changed for the install.
 */
export async function recordStepReport(
  db: Kysely<Database>,
  installId: string,
  report: StepReport,
  hostId?: string,
): Promise<InstallChange | undefined> {
  if (report.kind === 'output') {
    await db
      .insertInto('step_output')
      .values({
        install_id: installId,
        step: report.step,
        stream: report.stream,
        seq: report.seq,
        // PostgreSQL's text cannot hold NUL and SQLite's length() stops at
        // one: a step that prints NULs keeps its output, with U+FFFD for them.
        text: report.text.replaceAll('\0', '\uFFFD'),
      })
      .onConflict((oc) => oc.columns(['install_id', 'step', 'stream', 'seq']).doNothing())
      .execute();
    return undefined;
  }
  if (report.kind === 'started') {
    return db.transaction().execute(async (trx) => {
      // Read once, first: the writes below change only its state and times,
      // which are set here as written instead of read again after them.
      const found = await installWithoutSteps(trx, installId);
      if (!found || (hostId !== undefined && found.hostId !== hostId)) return undefined;
      // The hot statements of a step's report are compiled once (`installStatements`).
      const [counted] = (await installStatements.stepCount.execute(trx, { installId })).rows;
      const inserted = await installStatements.stepStart.execute(trx, {
        installId,
        step: report.step,
        position: Number(counted?.count ?? 0),
        at: report.at,
      });
      let started = Number(inserted.numAffectedRows ?? 0) > 0;
      if (!started) {
        const [existing] = (
          await installStatements.step.execute(trx, { installId, step: report.step })
        ).rows;
        if (existing?.started_at !== report.at) {
          // The same step started again (the agent re-ran the job after a crash):
          // this attempt's output replaces the last one's. A repeated delivery of
          // the same start carries the same time and changes nothing.
          await trx
            .updateTable('install_steps')
            .set({
              state: 'running',
              started_at: report.at,
              exit_code: null,
              duration_ms: null,
              error: null,
              finished_at: null,
            })
            .where('install_id', '=', installId)
            .where('step', '=', report.step)
            .execute();
          await trx
            .deleteFrom('step_output')
            .where('install_id', '=', installId)
            .where('step', '=', report.step)
            .execute();
          started = true;
        }
      }
      // A host the rollout gave up on (skipped), or whose install was cancelled
      // after it had been told to go ahead, that runs the job after all is
      // recorded as it goes: the record follows the host, and it has not
      // ended until the host says so.
      const moved = await installStatements.installRunning.execute(trx, {
        installId,
        at: report.at,
      });
      const stateChanged = Number(moved.numAffectedRows ?? 0) > 0;
      // Moved: read again (once an install, at its first step), as another
      // writer (a cancel, on PostgreSQL) may have changed the row since the
      // read above, and the update applied over it.
      const install: StoredInstall = stateChanged
        ? ((await installWithoutSteps(trx, installId)) ?? found)
        : found;
      const step: InstallStep = {
        step: report.step,
        state: 'running',
        exitCode: null,
        durationMs: null,
        error: null,
        startedAt: report.at,
        finishedAt: null,
      };
      return {
        install,
        stateChanged,
        steps: started ? [step] : [],
      };
    });
  }
  return db.transaction().execute(async (trx) => {
    // The install's row is not written here: as read first, it is as after the write.
    const install = await installWithoutSteps(trx, installId);
    if (!install || (hostId !== undefined && install.hostId !== hostId)) return undefined;
    const [before] = (await installStatements.step.execute(trx, { installId, step: report.step }))
      .rows;
    const state = report.ok ? 'succeeded' : 'failed';
    if (before) {
      await installStatements.stepEnd.execute(trx, {
        installId,
        step: report.step,
        state,
        exitCode: report.exitCode,
        durationMs: report.durationMs,
        error: report.error,
        at: report.at,
      });
    }
    // An end delivered again leaves the step as it was: no change to tell.
    const ended =
      before && before.state !== state
        ? [
            {
              ...toStep(before),
              state,
              exitCode: report.exitCode,
              durationMs: report.durationMs,
              error: report.error,
              finishedAt: report.at,
            } satisfies InstallStep,
          ]
        : [];
    return { install, stateChanged: false, steps: ended };
  });
}

/** Records the end of an install as its host reports it (`InstallStore.finish`). */
export async function recordInstallEnd(
  db: Kysely<Database>,
  installId: string,
  outcome: InstallOutcome,
): Promise<InstallChange | undefined> {
  // Only a host that ran the job reports its end (a declined job is not
  // finished here), so the record takes what the host says — even for an
  // install cancelled after the host had been told to go ahead. A repeated
  // report changes nothing.
  const end = outcome.ok ? installStatements.installSucceeded : installStatements.installFailed;
  return db.transaction().execute(async (trx) => {
    const result = await end.execute(trx, {
      installId,
      rolledBack: Number(outcome.rolledBack),
      error: outcome.error,
      at: outcome.at,
    });
    const install = await installWithoutSteps(trx, installId);
    if (!install) return undefined;
    return { install, stateChanged: Number(result.numAffectedRows ?? 0) > 0, steps: [] };
  });
}
