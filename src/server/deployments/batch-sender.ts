import type { BundleDetail, HostRecord } from '../../protocol/api.js';
import { installStatesBefore } from '../../protocol/lifecycle.js';
import type { Store, StoredInstall } from '../../store/store.js';
import type { BundleService } from '../bundle-service.js';
import type { InstallDispatcher } from './install-dispatcher.js';

/** The logging the sender does: a send that fails is reported, and sent again at the next look. */
interface Logger {
  error(details: object, message: string): void;
}

/** Installs of a batch sent at once (see `BatchSender.send`). */
const SENDS_AT_ONCE = 16;

/**
 * Runs `work` on the items, at most `limit` at a time, until one fails: none
 * is begun after that (a transport that refuses one send, waiting 30 s on a
 * broker that is down, would refuse the rest as slowly), those under way run
 * to their end. Resolves to the errors, each with its item.
 */
async function eachAtMost<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<{ item: T; err: unknown }[]> {
  let next = 0;
  const errors: { item: T; err: unknown }[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length && errors.length === 0) {
      const item = items[next++] as T;
      await work(item).catch((err: unknown) => errors.push({ item, err }));
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return errors;
}

/**
 * Sends a rollout's batch: each of its installs not yet sent goes to its host
 * (one removed has its install cancelled), a few at a time.
 *
 * @example
 * await sender.send(batch, hosts); // those it could not send stay pending
 */
export class BatchSender {
  constructor(
    private readonly store: Store,
    private readonly bundles: Pick<BundleService, 'get'>,
    private readonly dispatcher: InstallDispatcher,
    private readonly logger: Logger,
  ) {}

  /**
   * Sends the pending installs of `batch` to their hosts in `hosts`
   * (`migrate`: the one host that runs the bundle's migrations). Never
   * throws for a send that failed: that install is left pending, and logged.
   */
  async send(
    batch: StoredInstall[],
    hosts: Map<string, HostRecord>,
    options: { migrate?: boolean } = {},
  ): Promise<void> {
    const bundles = new Map<string, Promise<BundleDetail>>();
    const bundleOf = (install: StoredInstall): Promise<BundleDetail> => {
      const key = `${install.app}@${install.version}`;
      let bundle = bundles.get(key);
      if (bundle === undefined) {
        bundle = this.bundles.get(install.app, install.version);
        bundles.set(key, bundle);
      }
      return bundle;
    };
    // Sent side by side: each send is a few store reads and writes, and sent
    // one after another the last host of a large batch got its job only after
    // every other's (hundreds of ms at 20 hosts, its queries queued behind the
    // first hosts' step reports).
    const failed = await eachAtMost(
      batch.filter((i) => i.state === 'pending'),
      SENDS_AT_ONCE,
      async (install) => {
        const host = hosts.get(install.hostId);
        if (!host) {
          await this.store.installs.mark(
            install.id,
            { state: 'cancelled', error: 'the host was removed' },
            installStatesBefore('cancelled'),
          );
          return;
        }
        await this.dispatcher.send(install, await bundleOf(install), host, options);
      },
    );
    // Left pending: the next look sends them again.
    for (const { item, err } of failed)
      this.logger.error(
        { err, deploymentId: item.deploymentId, installId: item.id },
        'sending an install to its host failed',
      );
  }
}
