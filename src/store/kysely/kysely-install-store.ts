import type { Kysely, Selectable } from 'kysely';
import { z } from 'zod';
import type { InstallLogs, InstallState, InstallStep, StepLog } from '../../protocol/api.js';
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
import type { Database, InstallsTable } from '../schema.js';
import { keyMismatch, SecretBox } from '../secret-box.js';
import {
  installWithoutSteps,
  recordInstallEnd,
  recordStepReport,
} from './kysely-install-reports.js';
import { chunks, installRow, toInstall, toStep } from './kysely-install-rows.js';
import { installStatements } from './kysely-install-statements.js';
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
 * another row does not open. What an agent reports (its steps, their output,
 * the install's end) is recorded by `kysely-install-reports.ts`.
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
    if (options.steps === false) return installWithoutSteps(this.db, id);
    // Compiled once: a hot read (the steps' reports read an install without its steps, above).
    const { rows } = await installStatements.installById.execute(this.db, { id });
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
    return recordStepReport(this.db, installId, report, hostId);
  }

  async finish(installId: string, outcome: InstallOutcome): Promise<InstallChange | undefined> {
    return recordInstallEnd(this.db, installId, outcome);
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
