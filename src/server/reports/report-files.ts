import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { DeploymentState } from '../../protocol/deployment-api.js';
import { FINAL_DEPLOYMENT_STATES, isActiveDeployment } from '../../protocol/lifecycle.js';
import type { NoteSubject } from '../../protocol/note-api.js';
import type { Report } from '../../protocol/report-api.js';
import type { Store } from '../../store/store.js';
import type { EventBus } from '../events/event-bus.js';
import type { ServerConfig } from '../server-config.js';
import { SERVER_ACTOR } from '../verdict-service.js';
import { REPORT_FILE_FORMATS, type ReportFileFormats } from './report-file-formats.js';
import type { ReportService } from './report-service.js';

/** A deployment as far as writing its bundle's report goes. */
export interface EndedDeployment {
  id: string;
  app: string;
  version: number;
  env: string;
  state: DeploymentState;
}

/**
 * A report is there without asking: when a deployment to the last
 * environment of the lifecycle ends (whatever way: `succeeded`, `partial`,
 * `failed`, `rolled_back`, `no_hosts`, `cancelled`; and again when a partial
 * one becomes `succeeded`), the server writes the report of its bundle into
 * `<data>/reports/<app>@<version>.<ext>` (each file written whole to a temp
 * file and renamed into place, mode 0600) and records it in history (type
 * `report`).
 *
 * Only the replica that recorded the end writes (an `onLocal` effect). A
 * replica that dies before it wrote is made up for by `writeMissing`, which
 * every replica runs when it starts and every few minutes: the history line
 * has an id made of the deployment and its state, so a report written twice
 * (two replicas sweeping at once) is recorded once, and its files are the
 * same whole files.
 *
 * @example
 *   const files = new ReportFiles(store, reports, { dir, lastEnv: 'prod', formats, logger });
 *   bus.onLocal('deployment.state', (e) => files.deploymentChanged(...));
 */
export class ReportFiles {
  constructor(
    private readonly store: Store,
    private readonly reports: { reportOf(subject: NoteSubject): Promise<Report> },
    private readonly options: {
      /** `<data>/reports`. */
      dir: string;
      /** The last environment in lifecycle order, or undefined when there is none. */
      lastEnv: string | undefined;
      formats: ReportFileFormats;
      logger: FastifyBaseLogger;
    },
  ) {}

  /** For a deployment's change of state: writes its bundle's report if it ended in the last environment. */
  async deploymentChanged(deployment: EndedDeployment): Promise<void> {
    if (deployment.env !== this.options.lastEnv || isActiveDeployment(deployment.state)) return;
    await this.write(deployment);
  }

  /**
   * Writes the reports of the latest deployments to the last environment that
   * ended without one recorded (a replica died first, the disk was full).
   * Each failure is logged; the next sweep tries again.
   */
  async writeMissing(limit = 50): Promise<void> {
    const env = this.options.lastEnv;
    if (env === undefined) return;
    const ended = await this.store.deployments.list({
      env,
      states: [...FINAL_DEPLOYMENT_STATES],
      limit,
    });
    const recorded = await this.store.history.list({
      type: 'report',
      deploymentIds: ended.map((d) => d.id),
      limit: ended.length * 8,
    });
    const done = new Set(recorded.map((e) => e.id));
    for (const deployment of ended) {
      if (done.has(historyId(deployment))) continue;
      try {
        await this.write(deployment);
      } catch (err) {
        this.options.logger.error(
          { err, deploymentId: deployment.id },
          `the report of ${deployment.app}@${deployment.version} could not be written`,
        );
      }
    }
  }

  /** Writes each file of the bundle's report, then records that it did. */
  async write(deployment: EndedDeployment): Promise<void> {
    const { app, version, env, state } = deployment;
    const report = await this.reports.reportOf({ kind: 'bundle', app, version });
    const { dir, formats } = this.options;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const files: string[] = [];
    for (const [ext, render] of Object.entries(formats)) {
      const name = `${app}@${version}.${ext}`;
      await writeWhole(path.join(dir, name), render(report));
      files.push(name);
    }
    await this.store.history.record({
      id: historyId(deployment),
      at: new Date().toISOString(),
      by: SERVER_ACTOR,
      type: 'report',
      app,
      version,
      env,
      detail: `wrote the report of ${app}@${version} after its deployment to ${env} ended ${state}: ${files.map((f) => `reports/${f}`).join(', ')}`,
      deploymentId: deployment.id,
    });
    this.options.logger.info(
      { deploymentId: deployment.id, files },
      `report of ${app}@${version} written`,
    );
  }
}

/** One history line per deployment and the state it ended in: a repeat is recorded once. */
function historyId(deployment: Pick<EndedDeployment, 'id' | 'state'>): string {
  return `hev_report_${deployment.id}_${deployment.state}`;
}

/** Writes a file whole: to a temp file beside it, then renamed over it; a reader sees the old or the new. */
async function writeWhole(file: string, content: string): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temp, content, { mode: 0o600 });
    await rename(temp, file);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * A report is there without asking: the replica that records the end of a
 * deployment to the last environment writes its bundle's report into the
 * data folder; every replica, when it starts and every ten minutes, writes
 * those a replica that died did not (see `ReportFiles`). A report that cannot
 * be written is logged and tried again by the next sweep; it never fails the
 * change that ended the deployment.
 */
export function writeReportsOfReleases(
  app: FastifyInstance,
  events: EventBus,
  reports: ReportService,
  store: Store,
  config: Readonly<ServerConfig>,
): void {
  const files = new ReportFiles(store, reports, {
    dir: path.join(config.data, 'reports'),
    lastEnv: config.environments[config.environments.length - 1]?.name,
    formats: REPORT_FILE_FORMATS,
    logger: app.log,
  });
  events.onLocal('deployment.state', async (event) => {
    if (event.env === null || event.app === null || event.deploymentId === null) return;
    try {
      await files.deploymentChanged({
        id: event.deploymentId,
        app: event.app,
        version: event.data.version,
        env: event.env,
        state: event.data.state as DeploymentState,
      });
    } catch (err) {
      app.log.error(
        { err, deploymentId: event.deploymentId },
        `the report of ${event.app}@${event.data.version} could not be written; the next sweep tries again`,
      );
    }
  });
  let sweeping: Promise<void> | undefined;
  const sweep = () => {
    sweeping ??= files
      .writeMissing()
      .catch((err: unknown) => app.log.error({ err }, 'writing the missing reports failed'))
      .finally(() => {
        sweeping = undefined;
      });
  };
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', () => {
    sweep();
    timer = setInterval(sweep, 10 * 60 * 1000);
    timer.unref();
  });
  app.addHook('preClose', async () => {
    clearInterval(timer);
    await sweeping;
  });
}
