import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import { PROTOCOL_VERSION } from '../../protocol/messages.js';
import type { Store, StoredInstall } from '../../store/store.js';
import type { ServerTransport } from '../../transport/transport.js';
import type { VariableService } from '../variable-service.js';

/**
 * Sends install jobs: fills each host's variables, hands the job to the
 * transport, then marks the install sent. Every install goes through here — a
 * single `ferry install`, a rollout's batch, a revert, a host catching up.
 *
 * The job's id is the install's id, so a job sent twice (a replica that died
 * between sending and recording, then another that carried on) is one job to
 * the agent, whose journal runs it once.
 */
export class InstallDispatcher {
  constructor(
    private readonly store: Store,
    private readonly transport: ServerTransport,
    private readonly variables: VariableService,
  ) {}

  /**
   * Sends one planned (or queued) install to its host. When the host's variables
   * no longer resolve (one was unset since the deployment began), the install is
   * marked failed with that error instead, and nothing is sent.
   */
  async send(install: StoredInstall, bundle: BundleDetail, host: HostRecord): Promise<void> {
    let resolved;
    try {
      resolved = (await this.variables.checkDeployable(bundle.manifest, [host])).get(host.id)!;
    } catch (err) {
      if (!(err instanceof FerryError)) throw err;
      await this.store.markInstall(
        install.id,
        { state: 'failed', error: err.message, finishedAt: new Date().toISOString() },
        ['pending', 'queued'],
      );
      return;
    }
    await this.transport.send(host.id, {
      v: PROTOCOL_VERSION,
      id: install.id,
      type: 'install',
      installId: install.id,
      app: bundle.app,
      version: bundle.version,
      sha256: bundle.sha256,
      size: bundle.size,
      manifest: bundle.manifest,
      vars: resolved.vars,
      secrets: resolved.secrets,
      ...(install.deploymentId === null ? {} : { deploymentId: install.deploymentId }),
    });
    await this.store.markInstall(
      install.id,
      { state: 'queued', sentAt: new Date().toISOString() },
      ['pending', 'queued'],
    );
  }
}
