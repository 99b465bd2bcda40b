import type { Selectable } from 'kysely';
import { installStatesBefore } from '../../protocol/lifecycle.js';
import type { Database, InstallStepsTable, InstallsTable } from '../schema.js';
import { CompiledOnce } from './compiled-query.js';

/** An install's end as the host reports it, from any state before `state`. */
function installEnd(state: 'succeeded' | 'failed') {
  return new CompiledOnce<
    Database,
    { installId: string; rolledBack: number; error: string | null; at: string },
    never
  >((db, slot) =>
    db
      .updateTable('installs')
      .set({
        state,
        rolled_back: slot('rolledBack'),
        error: slot('error'),
        finished_at: slot('at'),
      })
      .where('id', '=', slot('installId'))
      .where('state', 'in', installStatesBefore(state)),
  );
}

/**
 * The statements of an agent's reports (a thousand hosts send twenty steps
 * each), compiled once: see `CompiledOnce`.
 */
export const installStatements = {
  installById: new CompiledOnce<
    Database,
    { id: string },
    Selectable<InstallsTable> & { host_name: string }
  >((db, slot) =>
    db
      .selectFrom('installs')
      .innerJoin('hosts', 'hosts.id', 'installs.host_id')
      .selectAll('installs')
      .select('hosts.name as host_name')
      .where('installs.id', '=', slot('id')),
  ),
  stepCount: new CompiledOnce<Database, { installId: string }, { count: number | string }>(
    (db, slot) =>
      db
        .selectFrom('install_steps')
        .select((eb) => eb.fn.countAll<number | string>().as('count'))
        .where('install_id', '=', slot('installId')),
  ),
  stepStart: new CompiledOnce<
    Database,
    { installId: string; step: string; position: number; at: string },
    never
  >((db, slot) =>
    db
      .insertInto('install_steps')
      .values({
        install_id: slot('installId'),
        step: slot('step'),
        position: slot('position'),
        state: 'running',
        exit_code: null,
        duration_ms: null,
        error: null,
        started_at: slot('at'),
        finished_at: null,
      })
      .onConflict((oc) => oc.columns(['install_id', 'step']).doNothing()),
  ),
  step: new CompiledOnce<
    Database,
    { installId: string; step: string },
    Selectable<InstallStepsTable>
  >((db, slot) =>
    db
      .selectFrom('install_steps')
      .selectAll()
      .where('install_id', '=', slot('installId'))
      .where('step', '=', slot('step')),
  ),
  stepEnd: new CompiledOnce<
    Database,
    {
      installId: string;
      step: string;
      state: string;
      exitCode: number | null;
      durationMs: number | null;
      error: string | null;
      at: string;
    },
    never
  >((db, slot) =>
    db
      .updateTable('install_steps')
      .set({
        state: slot('state'),
        exit_code: slot('exitCode'),
        duration_ms: slot('durationMs'),
        error: slot('error'),
        finished_at: slot('at'),
      })
      .where('install_id', '=', slot('installId'))
      .where('step', '=', slot('step')),
  ),
  installRunning: new CompiledOnce<Database, { installId: string; at: string }, never>((db, slot) =>
    db
      .updateTable('installs')
      .set({ state: 'running', started_at: slot('at'), finished_at: null })
      .where('id', '=', slot('installId'))
      .where('state', 'in', installStatesBefore('running')),
  ),
  installSucceeded: installEnd('succeeded'),
  installFailed: installEnd('failed'),
};
