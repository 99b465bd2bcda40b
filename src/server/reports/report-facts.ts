import type {
  BundleDetail,
  EnvironmentRecord,
  HostRecord,
  InstallRecord,
} from '../../protocol/api.js';
import type { DeploymentRecord } from '../../protocol/deployment-api.js';
import type { NoteRecord, NoteSubject } from '../../protocol/note-api.js';
import type { ConfigSnapshot, ReportStepLog } from '../../store/install-store.js';

/**
 * Every record a release report is made from, gathered once from the store
 * (`gatherReportFacts`): the report's sections and Ferry's findings are pure
 * functions of it, so they are tested on plain data and a report of many
 * hosts costs a fixed number of queries.
 */
export interface ReportFacts {
  subject: NoteSubject;
  /** When the facts were gathered (ISO 8601): "now" for every finding that looks at time. */
  gatheredAt: string;
  /** The release's bundles, by app then version; each with the manifest section it carries. */
  bundles: BundleDetail[];
  /** Every environment, in lifecycle order. */
  environments: EnvironmentRecord[];
  /** The hosts of every environment, not removed, with their latest facts. */
  hosts: HostRecord[];
  /** Per environment and app, the version its hosts should run (absent: none set). */
  desired: ReadonlyArray<{ env: string; app: string; version: number }>;
  /** Every deployment of one of the release's bundles, oldest first, with its installs. */
  deployments: DeploymentRecord[];
  /** Every install of one of the release's bundles (deploys, reverts, catch-ups, by hand), oldest first. */
  installs: ReportInstallFacts[];
  /**
   * Per host and app, the configuration its current release runs with: the
   * snapshot of the install its facts name (`apps.<app>.config.installId`).
   * Secret values are here in the clear: compare them by hash, never show them.
   */
  runningConfig: ReadonlyArray<{ hostId: string; app: string; snapshot: ConfigSnapshot }>;
  /** Variables set on the server for single hosts (names only): they differ by design. */
  setPerHost: ReadonlyArray<{ host: string; name: string; app: string | null }>;
  /** The notes on the release (on its label and on each bundle), with their actions. */
  notes: NoteRecord[];
  /** The verdict history of each bundle, oldest first. */
  verdicts: ReadonlyArray<{
    app: string;
    version: number;
    verdict: 'passed' | 'failed';
    by: string;
    at: string;
    note: string | null;
  }>;
}

/**
 * One install with the environment its host is in and each step's output:
 * its head, and a failed step's tail (`REPORT_OUTPUT_BOUNDS`), not all of it.
 */
export interface ReportInstallFacts {
  install: InstallRecord;
  env: string;
  logs: ReportStepLog[];
}
