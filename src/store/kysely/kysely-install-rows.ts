import type { Insertable, Selectable } from 'kysely';
import type { InstallPurpose, InstallState, InstallStep } from '../../protocol/api.js';
import { isFinalInstall } from '../../protocol/lifecycle.js';
import type { NewInstall, StoredInstall } from '../install-store.js';
import type { InstallStepsTable, InstallsTable } from '../schema.js';

/** Ids in pieces small enough for one `in (…)` on every dialect (SQLite binds at most 32766). */
export function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A new install as its row. */
export function installRow(install: NewInstall): Insertable<InstallsTable> {
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

/** A step's row as the record `InstallStore` gives. */
export function toStep(row: Selectable<InstallStepsTable>): InstallStep {
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
export function toInstall(
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
