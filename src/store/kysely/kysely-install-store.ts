import type { Insertable, Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import type {
  InstallLogs,
  InstallPurpose,
  InstallState,
  InstallStep,
  StepLog,
} from '../../protocol/api.js';
import {
  installStatesBefore,
  isFinalInstall,
  UNSTARTED_INSTALL_STATES,
} from '../../protocol/lifecycle.js';
import type {
  ConfigSnapshot,
  InstallChange,
  InstallHead,
  InstallOutcome,
  InstallPatch,
  InstallQuery,
  InstallSnapshot,
  InstallStore,
  NewInstall,
  OutputBounds,
  ReportInstallLogs,
  StepReport,
  StoredInstall,
} from '../install-store.js';
import type { BundleKey } from '../../protocol/note-api.js';
import type { Database, InstallStepsTable, InstallsTable } from '../schema.js';
import { keyMismatch, SecretBox } from '../secret-box.js';
import { CompiledOnce } from './compiled-query.js';
import { readReportLogs } from './kysely-report-logs.js';
import { snapshotContext } from './kysely-secret-sealing.js';

const snapshotBodySchema = z.object({
  vars: z.record(z.string(), z.string()),
  secrets: z.array(z.string()),
});

/**
 * `InstallStore` over Kysely, written once for every dialect: installs, their
 * steps and step output, and their configuration snapshots. With a
 * `SecretBox`, a whole snapshot is sealed (it holds the values of secret
 * variables), bound to its install's id so that a sealed body moved to
 * another row does not open.
 */
export class KyselyInstallStore implements InstallStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox | undefined,
  ) {}

  /** The same store on another connection: a transaction's (a deployment records its installs in its own). */
  withDb(db: Kysely<Database>): KyselyInstallStore {
    return new KyselyInstallStore(db, this.box);
  }

  async create(install: NewInstall): Promise<void> {
    await this.db.insertInto('installs').values(installRow(install)).execute();
  }

  async get(id: string, options: { steps?: boolean } = {}): Promise<StoredInstall | undefined> {
    // Compiled once: read for every step an agent reports, and at its question.
    const { rows } = await hot.installById.execute(this.db, { id });
    if (options.steps === false) return rows[0] && toInstall(rows[0], []);
    const [install] = await this.withSteps(rows);
    return install;
  }

  async createMany(installs: NewInstall[]): Promise<void> {
    if (installs.length === 0) return;
    await this.db.insertInto('installs').values(installs.map(installRow)).execute();
  }

  /** Installs with their steps, newest first. */
  async list(query: InstallQuery & { id?: string }): Promise<StoredInstall[]> {
    let select = this.db
      .selectFrom('installs')
      .innerJoin('hosts', 'hosts.id', 'installs.host_id')
      .selectAll('installs')
      .select('hosts.name as host_name')
      .orderBy('installs.created_at', 'desc')
      .orderBy('installs.id');
    if (query.id !== undefined) select = select.where('installs.id', '=', query.id);
    if (query.deploymentId === null) select = select.where('installs.deployment_id', 'is', null);
    else if (query.deploymentId !== undefined)
      select = select.where('installs.deployment_id', '=', query.deploymentId);
    if (query.hostId !== undefined) select = select.where('installs.host_id', '=', query.hostId);
    if (query.app !== undefined) select = select.where('installs.app', '=', query.app);
    if (query.version !== undefined) select = select.where('installs.version', '=', query.version);
    if (query.states !== undefined) select = select.where('installs.state', 'in', query.states);
    if (query.limit !== undefined) select = select.limit(query.limit);
    const rows = await select.execute();
    return query.steps === false ? rows.map((row) => toInstall(row, [])) : this.withSteps(rows);
  }

  async listNewest(
    query: { app?: string; states?: readonly InstallState[]; perVersion?: boolean } = {},
  ): Promise<InstallHead[]> {
    const { app, states, perVersion = false } = query;
    if (states?.length === 0) return [];
    // A window numbers each host's installs of an app (and version) newest
    // first, in `list`'s order; the first of each is the one `list` gives.
    const ranked = this.db
      .selectFrom('installs')
      .select(['id', 'host_id', 'app', 'version', 'state'])
      .select((eb) =>
        eb.fn
          .agg<number>('row_number')
          .over((ob) =>
            ob
              .partitionBy(perVersion ? ['host_id', 'app', 'version'] : ['host_id', 'app'])
              .orderBy('created_at', 'desc')
              .orderBy('id', 'asc'),
          )
          .as('newness'),
      )
      .$if(app !== undefined, (qb) => qb.where('app', '=', app ?? ''))
      .$if(states !== undefined, (qb) => qb.where('state', 'in', states ?? []));
    const rows = await this.db
      .selectFrom(ranked.as('ranked'))
      .select(['id', 'host_id', 'app', 'version', 'state'])
      .where('newness', '=', 1)
      .execute();
    return rows.map((row) => ({
      id: row.id,
      hostId: row.host_id,
      app: row.app,
      version: Number(row.version),
      state: row.state as InstallState,
    }));
  }

  async listForRelease(query: {
    bundles: readonly BundleKey[];
    deploymentIds: readonly string[];
  }): Promise<StoredInstall[]> {
    const { bundles, deploymentIds } = query;
    if (bundles.length === 0 && deploymentIds.length === 0) return [];
    const rows = await this.db
      .selectFrom('installs')
      .innerJoin('hosts', 'hosts.id', 'installs.host_id')
      .selectAll('installs')
      .select('hosts.name as host_name')
      .where((eb) =>
        eb.or([
          ...bundles.map((b) =>
            eb.and([eb('installs.app', '=', b.app), eb('installs.version', '=', b.version)]),
          ),
          ...chunks(deploymentIds).map((ids) => eb('installs.deployment_id', 'in', ids)),
        ]),
      )
      .orderBy('installs.created_at')
      .orderBy('installs.id')
      .execute();
    return this.withSteps(rows);
  }

  /** Rows of installs as records, with their steps read in one query per chunk of ids. */
  private async withSteps(
    rows: (Selectable<InstallsTable> & { host_name: string })[],
  ): Promise<StoredInstall[]> {
    if (rows.length === 0) return [];
    const stepsOf = new Map<string, InstallStep[]>();
    for (const ids of chunks(rows.map((r) => r.id))) {
      const steps = await this.db
        .selectFrom('install_steps')
        .selectAll()
        .where('install_id', 'in', ids)
        .orderBy('install_id')
        .orderBy('position')
        .execute();
      for (const step of steps) {
        const list = stepsOf.get(step.install_id) ?? [];
        list.push(toStep(step));
        stepsOf.set(step.install_id, list);
      }
    }
    return rows.map((row) => toInstall(row, stepsOf.get(row.id) ?? []));
  }

  async mark(id: string, patch: InstallPatch, from: InstallState[]): Promise<boolean> {
    // An install that ends here (cancelled, skipped, failed before it was sent)
    // says when, as one whose host reports its end does.
    const finishedAt =
      patch.finishedAt ?? (isFinalInstall(patch.state) ? new Date().toISOString() : undefined);
    const result = await this.db
      .updateTable('installs')
      .set({
        state: patch.state,
        ...(patch.error === undefined ? {} : { error: patch.error }),
        ...(patch.sentAt === undefined ? {} : { sent_at: patch.sentAt }),
        ...(patch.startedAt === undefined ? {} : { started_at: patch.startedAt }),
        ...(finishedAt === undefined ? {} : { finished_at: finishedAt }),
      })
      .where('id', '=', id)
      .where('state', 'in', from)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) > 0;
  }

  /** Cancels every install of a deployment that no host has begun (see `DeploymentUpdateOptions.cancelUnstarted`). */
  async cancelUnstarted(deploymentId: string, error: string, at: string): Promise<void> {
    await this.db
      .updateTable('installs')
      .set({ state: 'cancelled', error, finished_at: at })
      .where('deployment_id', '=', deploymentId)
      .where(
        'state',
        'in',
        installStatesBefore('cancelled').filter((s) => UNSTARTED_INSTALL_STATES.includes(s)),
      )
      .execute();
  }

  async recordStep(
    installId: string,
    report: StepReport,
    hostId?: string,
  ): Promise<InstallChange | undefined> {
    if (report.kind === 'output') {
      await this.db
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
      return this.db.transaction().execute(async (trx) => {
        // Read once, first: the writes below change only its state and times,
        // which are set here as written instead of read again after them.
        const found = await this.withDb(trx).get(installId, { steps: false });
        if (!found || (hostId !== undefined && found.hostId !== hostId)) return undefined;
        // The hot statements of a step's report are compiled once (`hot`).
        const [counted] = (await hot.stepCount.execute(trx, { installId })).rows;
        const inserted = await hot.stepStart.execute(trx, {
          installId,
          step: report.step,
          position: Number(counted?.count ?? 0),
          at: report.at,
        });
        let started = Number(inserted.numAffectedRows ?? 0) > 0;
        if (!started) {
          const [existing] = (await hot.step.execute(trx, { installId, step: report.step })).rows;
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
        const moved = await hot.installRunning.execute(trx, { installId, at: report.at });
        const stateChanged = Number(moved.numAffectedRows ?? 0) > 0;
        // Moved: read again (once an install, at its first step), as another
        // writer (a cancel, on PostgreSQL) may have changed the row since the
        // read above, and the update applied over it.
        const install: StoredInstall = stateChanged
          ? ((await this.withDb(trx).get(installId, { steps: false })) ?? found)
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
    return this.db.transaction().execute(async (trx) => {
      // The install's row is not written here: as read first, it is as after the write.
      const install = await this.withDb(trx).get(installId, { steps: false });
      if (!install || (hostId !== undefined && install.hostId !== hostId)) return undefined;
      const [before] = (await hot.step.execute(trx, { installId, step: report.step })).rows;
      const state = report.ok ? 'succeeded' : 'failed';
      if (before) {
        await hot.stepEnd.execute(trx, {
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

  async finish(installId: string, outcome: InstallOutcome): Promise<InstallChange | undefined> {
    // Only a host that ran the job reports its end (a declined job is not
    // finished here), so the record takes what the host says — even for an
    // install cancelled after the host had been told to go ahead. A repeated
    // report changes nothing.
    const end = outcome.ok ? hot.installSucceeded : hot.installFailed;
    return this.db.transaction().execute(async (trx) => {
      const result = await end.execute(trx, {
        installId,
        rolledBack: Number(outcome.rolledBack),
        error: outcome.error,
        at: outcome.at,
      });
      const install = await this.withDb(trx).get(installId, { steps: false });
      if (!install) return undefined;
      return { install, stateChanged: Number(result.numAffectedRows ?? 0) > 0, steps: [] };
    });
  }

  async logs(installId: string): Promise<InstallLogs | undefined> {
    const install = await this.db
      .selectFrom('installs')
      .select('id')
      .where('id', '=', installId)
      .executeTakeFirst();
    if (!install) return undefined;
    const steps = await this.db
      .selectFrom('install_steps')
      .select(['step', 'state', 'exit_code', 'duration_ms'])
      .where('install_id', '=', installId)
      .orderBy('position')
      .execute();
    const pieces = await this.db
      .selectFrom('step_output')
      .selectAll()
      .where('install_id', '=', installId)
      .orderBy('step')
      .orderBy('stream')
      .orderBy('seq')
      .execute();
    return {
      installId,
      steps: steps.map(({ step, state, exit_code, duration_ms }) => {
        const of = (stream: string) =>
          pieces
            .filter((p) => p.step === step && p.stream === stream)
            .map((p) => p.text)
            .join('');
        return {
          step,
          state: state as StepLog['state'],
          exitCode: exit_code === null ? null : Number(exit_code),
          durationMs: duration_ms === null ? null : Number(duration_ms),
          stdout: of('stdout'),
          stderr: of('stderr'),
        };
      }),
    };
  }

  async logsForReport(
    installIds: readonly string[],
    bounds: OutputBounds,
  ): Promise<ReportInstallLogs[]> {
    const out: ReportInstallLogs[] = [];
    for (const ids of chunks([...new Set(installIds)])) {
      out.push(...(await readReportLogs(this.db, ids, bounds)));
    }
    return out;
  }

  async getSnapshots(installIds: readonly string[]): Promise<InstallSnapshot[]> {
    const out: InstallSnapshot[] = [];
    for (const ids of chunks([...new Set(installIds)])) {
      const rows = await this.db
        .selectFrom('install_snapshots')
        .select(['install_id', 'body'])
        .where('install_id', 'in', ids)
        .execute();
      for (const row of rows) {
        out.push({
          installId: row.install_id,
          snapshot: snapshotBodySchema.parse(
            JSON.parse(this.openSnapshot(row.install_id, row.body)),
          ),
        });
      }
    }
    return out;
  }

  async saveSnapshots(snapshots: readonly InstallSnapshot[]): Promise<void> {
    if (snapshots.length === 0) return;
    const now = new Date().toISOString();
    await this.db
      .insertInto('install_snapshots')
      .values(
        snapshots.map(({ installId, snapshot }) => ({
          install_id: installId,
          body: this.sealSnapshot(installId, snapshot),
          created_at: now,
        })),
      )
      // The first one recorded is what the install was made with: saving it again
      // (a replica carrying on after another) changes nothing.
      .onConflict((oc) => oc.column('install_id').doNothing())
      .execute();
  }

  async getSnapshot(installId: string): Promise<ConfigSnapshot | undefined> {
    const row = await this.db
      .selectFrom('install_snapshots')
      .select('body')
      .where('install_id', '=', installId)
      .executeTakeFirst();
    if (!row) return undefined;
    return snapshotBodySchema.parse(JSON.parse(this.openSnapshot(installId, row.body)));
  }

  private sealSnapshot(installId: string, snapshot: ConfigSnapshot): string {
    const body = JSON.stringify({ vars: snapshot.vars, secrets: [...snapshot.secrets].sort() });
    return this.box ? this.box.seal(body, snapshotContext(installId)) : body;
  }

  private openSnapshot(installId: string, body: string): string {
    if (!SecretBox.isSealed(body)) return body;
    if (!this.box) throw keyMismatch(SecretBox.sealedWith(body), null);
    return this.box.open(body, snapshotContext(installId));
  }
}

/** Ids in pieces small enough for one `in (…)` on every dialect (SQLite binds at most 32766). */
function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function installRow(install: NewInstall): Insertable<InstallsTable> {
  return {
    id: install.id,
    host_id: install.hostId,
    app: install.app,
    version: install.version,
    state: install.state ?? 'queued',
    rolled_back: 0,
    error: install.error ?? null,
    created_by: install.createdBy,
    created_at: new Date().toISOString(),
    started_at: null,
    finished_at: isFinalInstall(install.state ?? 'queued') ? new Date().toISOString() : null,
    deployment_id: install.deploymentId ?? null,
    purpose: install.purpose ?? 'install',
    batch: install.batch ?? null,
    from_version: install.fromVersion ?? null,
    sent_at: null,
  };
}

function toStep(row: Selectable<InstallStepsTable>): InstallStep {
  return {
    step: row.step,
    state: row.state as InstallStep['state'],
    exitCode: row.exit_code,
    durationMs: row.duration_ms === null ? null : Number(row.duration_ms),
    error: row.error,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** An install's row (with its host's name) as a record, with these steps. */
function toInstall(
  row: Selectable<InstallsTable> & { host_name: string },
  steps: InstallStep[],
): StoredInstall {
  return {
    id: row.id,
    hostId: row.host_id,
    host: row.host_name,
    app: row.app,
    version: Number(row.version),
    state: row.state as InstallState,
    rolledBack: Boolean(row.rolled_back),
    error: row.error,
    deploymentId: row.deployment_id,
    purpose: row.purpose as InstallPurpose,
    fromVersion: row.from_version === null ? null : Number(row.from_version),
    batch: row.batch === null ? null : Number(row.batch),
    sentAt: row.sent_at,
    createdBy: row.created_by,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    steps,
  };
}

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
const hot = {
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
