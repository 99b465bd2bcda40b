import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import {
  installStatesBefore,
  isCancelledDeployment,
  UNSTARTED_INSTALL_STATES,
} from '../../protocol/lifecycle.js';
import { assertJobFits } from '../../protocol/job-size.js';
import { type InstallJob, PROTOCOL_VERSION } from '../../protocol/messages.js';
import type { Store, StoredInstall } from '../../store/store.js';
import type { ServerTransport } from '../../transport/transport.js';
import type { ResolvedVariables, VariableService } from '../variable-service.js';
import { ConfigSnapshots } from './config-snapshots.js';

/** The job that installs a bundle on a host: its id is the install's. */
export function installJobOf(
  install: Pick<StoredInstall, 'id' | 'deploymentId'>,
  bundle: BundleDetail,
  resolved: ResolvedVariables,
  options: { migrate?: boolean } = {},
): InstallJob {
  return {
    v: PROTOCOL_VERSION,
    id: install.id,
    type: 'install',
    installId: install.id,
    app: bundle.app,
    version: bundle.version,
    sha256: bundle.sha256,
    size: bundle.size,
    label: bundle.label,
    commit: bundle.commit,
    ...signatureOf(bundle),
    manifest: bundle.manifest,
    vars: resolved.vars,
    secrets: resolved.secrets,
    ...(install.deploymentId === null ? {} : { deploymentId: install.deploymentId }),
    ...(options.migrate ? { migrate: true } : {}),
  };
}

/** The server's signature of a bundle, as a job carries it; none for a bundle not signed yet. */
function signatureOf(bundle: BundleDetail): Pick<InstallJob, 'signature'> {
  const server = bundle.signatures.find((s) => s.by === 'server');
  return server ? { signature: { keyId: server.keyId, value: server.signature } } : {};
}

/**
 * Why an install is not to start because its deployment was cancelled, or null
 * when it may. Only a rollout's own installs (`deploy`, and `revert` while a
 * failed rollout puts hosts back) go with their deployment; a host catching up
 * to the release of a deployment that ended is never refused on its account.
 * `cancel` records the deployment and its unstarted installs in one step; this
 * is the check at the last moment, for an install read before that step.
 */
export async function cancelledWithDeployment(
  store: Pick<Store, 'deployments'>,
  install: Pick<StoredInstall, 'deploymentId' | 'purpose'>,
): Promise<string | null> {
  if (install.deploymentId === null) return null;
  if (install.purpose !== 'deploy' && install.purpose !== 'revert') return null;
  const deployment = await store.deployments.get(install.deploymentId);
  if (!deployment || !isCancelledDeployment(deployment.state)) return null;
  return `the deployment was cancelled${deployment.error ? `: ${deployment.error}` : ''}`;
}

/**
 * Throws `E_JOB_TOO_LARGE` when the job of any of these hosts would be too large
 * for the transport, naming the host and the largest parts (the manifest
 * section, which variables): checked before anything is recorded or sent.
 */
export function assertInstallJobsFit(
  bundle: BundleDetail,
  hosts: readonly Pick<HostRecord, 'id' | 'name'>[],
  resolved: ReadonlyMap<string, ResolvedVariables>,
): void {
  // Ids as long as real ones, so the size is the one the real job will have.
  const sample = { id: 'ins_0000000000000000', deploymentId: 'dep_0000000000000000' };
  for (const host of hosts) {
    const vars = resolved.get(host.id);
    if (vars)
      assertJobFits(
        installJobOf(sample, bundle, vars, { migrate: true }),
        `${bundle.app}@${bundle.version} for ${host.name}`,
      );
  }
}

/**
 * Sends install jobs: fills each host's variables, hands the job to the
 * transport, then marks the install sent. With `migrate`, the job asks the
 * agent to run the bundle's migrations (one host per deployment). Every install goes through here — a
 * single `ferry install`, a rollout's batch, a revert, a host catching up.
 *
 * The job's id is the install's id, so a job sent twice (a replica that died
 * between sending and recording, then another that carried on) is one job to
 * the agent, whose journal runs it once.
 */
export class InstallDispatcher {
  private readonly snapshots: ConfigSnapshots;

  constructor(
    private readonly store: Store,
    private readonly transport: ServerTransport,
    variables: VariableService,
  ) {
    this.snapshots = new ConfigSnapshots(store, variables);
  }

  /**
   * Sends one planned (or queued) install to its host, with the snapshot its
   * deployment froze for it. One without (a revert, a host catching up, a
   * `ferry install`) gets one now (`ConfigSnapshots.forInstall`: a revert the
   * configuration the release last ran with on the host, as the agent going
   * back by itself, a catch-up the one its deployment froze for the host), recorded
   * before it is sent, so that `ferry deployment <id>` shows it.
   * When the host's variables do not resolve, the install is marked failed with
   * that error instead, and nothing is sent; so is one whose job is too large
   * for the transport.
   */
  async send(
    install: StoredInstall,
    bundle: BundleDetail,
    host: HostRecord,
    options: { migrate?: boolean } = {},
  ): Promise<void> {
    // Read again: the host may have been cut off since the caller read it.
    if (host.revokedAt || (await this.store.hosts.get(host.id))?.revokedAt) {
      // Its token was revoked: no job (and none of the variables in it) goes to it.
      return this.endUnsent(
        install.id,
        'skipped',
        `${host.name} was cut off (its token was revoked): it gets nothing more`,
      );
    }
    const frozen = await this.store.installs.getSnapshot(install.id);
    let resolved: ResolvedVariables;
    try {
      resolved = frozen ?? (await this.snapshots.forInstall(install, bundle, host));
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      return this.endUnsent(install.id, 'failed', err.message);
    }
    const job = installJobOf(install, bundle, resolved, options);
    try {
      // A variable may have grown since the deployment was checked.
      assertJobFits(job, `${bundle.app}@${bundle.version} for ${host.name}`);
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      return this.endUnsent(install.id, 'failed', err.message);
    }
    // Cancelled or skipped since the caller read it: it is not sent. (Should it
    // be cancelled just after, the agent asks before it starts and declines it.)
    const now = await this.store.installs.get(install.id);
    if (now && !UNSTARTED_INSTALL_STATES.includes(now.state)) return;
    // Its deployment cancelled since the caller read it (a tick that read it before).
    const cancelled = await cancelledWithDeployment(this.store, install);
    if (cancelled !== null) {
      await this.store.installs.mark(
        install.id,
        { state: 'cancelled', error: cancelled },
        installStatesBefore('cancelled').filter((s) => UNSTARTED_INSTALL_STATES.includes(s)),
      );
      return;
    }
    // One frozen with its deployment is recorded already (the first one recorded stays).
    if (frozen === undefined)
      await this.store.installs.saveSnapshots([{ installId: install.id, snapshot: resolved }]);
    if (install.sentAt === null) {
      // Recorded before the job goes: the agent may get it and fetch its bundle
      // before the line after `send` runs, and a host downloads only the bundles
      // of installs sent to it (`AgentService.authorizeDownload`).
      await this.store.installs.mark(
        install.id,
        { state: 'pending', sentAt: new Date().toISOString() },
        installStatesBefore('pending'),
      );
    }
    await this.transport.send(host.id, job);
    await this.store.installs.mark(
      install.id,
      { state: 'queued', sentAt: new Date().toISOString() },
      installStatesBefore('queued'),
    );
  }

  /** Ends an install that was never sent (a host cut off, a refused job), if no host has begun it. */
  private async endUnsent(id: string, state: 'failed' | 'skipped', error: string): Promise<void> {
    await this.store.installs.mark(id, { state, error, finishedAt: new Date().toISOString() }, [
      ...UNSTARTED_INSTALL_STATES,
    ]);
  }
}
