import {
  INSTALL_STATES,
  isSentInstall,
  UNSTARTED_INSTALL_STATES,
} from '../../protocol/lifecycle.js';
import type { Store } from '../../store/store.js';
import type { BundleService } from '../bundle-service.js';
import type { InstallDispatcher } from './install-dispatcher.js';

/** The logging the sweep does. */
interface Logger {
  warn(details: object, message: string): void;
}

/**
 * How long an install by hand may stay recorded and unsent before the sweep
 * sends it or ends it: far longer than a server takes between recording and
 * sending one, a send that waits on a broker (30 s at most) included.
 */
const STRANDED_AFTER_MS = 120_000;

/**
 * The sweep, at each tick of the rollout driver, of installs by hand
 * (`ferry install`, no deployment) left recorded and unsent.
 *
 * @example
 * await sweep.run(() => closed);
 */
export class StrandedSweep {
  constructor(
    private readonly store: Store,
    private readonly bundles: Pick<BundleService, 'get'>,
    private readonly dispatcher: InstallDispatcher,
    private readonly logger: Logger,
    private readonly clock: () => number,
  ) {}

  /**
   * Ends the wait of installs by hand (`ferry install`, no deployment) left
   * planned and unsent for longer than a server takes to send one, which
   * nothing else would send while `ferry install` waits on them. One whose
   * sending never began (the server that recorded it stopped first) is sent
   * now: sending is idempotent (the job's id is the install's), so two
   * replicas sending it run it once. One whose sending began and never
   * completed (the server stopped during it, or the transport refused it and
   * the caller was told so) ends failed, saying why: its job, should it have
   * gone, is then declined by its host when it asks. Stops early once
   * `closed` says so.
   */
  async run(closed: () => boolean): Promise<void> {
    const before = new Date(this.clock() - STRANDED_AFTER_MS).toISOString();
    const unsent = INSTALL_STATES.filter(
      (s) => UNSTARTED_INSTALL_STATES.includes(s) && !isSentInstall(s),
    );
    const stranded = (
      await this.store.installs.list({ deploymentId: null, states: unsent, limit: 100 })
    ).filter((i) => i.createdAt < before);
    for (const install of stranded) {
      if (closed()) return;
      const host = await this.store.hosts.get(install.hostId);
      if (!host || install.sentAt !== null) {
        const error = !host
          ? 'the host was removed before its job was sent'
          : 'its sending did not complete (the server stopped, or the transport refused it): run ferry install again';
        if (await this.store.installs.mark(install.id, { state: 'failed', error }, unsent))
          this.logger.warn({ installId: install.id }, `an install by hand ended unsent: ${error}`);
        continue;
      }
      this.logger.warn(
        { installId: install.id, host: host.name },
        'sending again an install by hand that was recorded but not sent',
      );
      const bundle = await this.bundles.get(install.app, install.version);
      await this.dispatcher.send(install, bundle, host);
    }
  }
}
