import type { NewFerryEvent } from '../../protocol/events.js';
import { isWithdrawn, UNSTARTED_INSTALL_STATES } from '../../protocol/lifecycle.js';
import type { NoteRecord } from '../../protocol/note-api.js';
import type {
  AlertStore,
  BundleStore,
  HealthStore,
  DeploymentStore,
  HostStore,
  InstallChange,
  InstallStore,
  NoteStore,
  StoredAlert,
  StoredDeployment,
  StoredInstall,
  Store,
  VerdictStore,
} from '../../store/store.js';
import type { EventBus } from './event-bus.js';

/**
 * The store as the server's services see it: every change they record is
 * also published on the event bus, after it is recorded. Publishing here, at
 * the one door every write goes through, means no service can change a
 * deployment, an install, a verdict, a bundle, a note, a host's presence, a
 * service's health or an alert without its event: nothing has to remember to publish.
 *
 * @example
 *   const store = eventedStore(rawStore, bus);
 *   await store.deployments.update(id, { state: 'succeeded' }); // publishes deployment.state
 */
export function eventedStore(store: Store, bus: Pick<EventBus, 'publish' | 'notify'>): Store {
  const envOfHost = new Map<string, string>();
  const hostEnv = async (hostId: string): Promise<string | null> => {
    const known = envOfHost.get(hostId);
    if (known !== undefined) return known;
    const host = await store.hosts.get(hostId);
    if (host) envOfHost.set(hostId, host.env);
    return host?.env ?? null;
  };
  const deploymentEvent = (
    kind: 'deployment.created' | 'deployment.state',
    d: StoredDeployment,
  ): NewFerryEvent => ({
    kind,
    app: d.app,
    env: d.env,
    deploymentId: d.id,
    hostId: null,
    data: {
      version: d.version,
      kind: d.kind,
      state: d.state,
      phase: d.phase,
      error: d.error,
      by: d.createdBy,
      bakeUntil: d.bake?.until ?? null,
    },
  });
  const installEvent = async (install: StoredInstall): Promise<NewFerryEvent> => ({
    kind: 'install.state',
    app: install.app,
    env: await hostEnv(install.hostId),
    deploymentId: install.deploymentId,
    hostId: install.hostId,
    data: {
      installId: install.id,
      host: install.host,
      version: install.version,
      purpose: install.purpose,
      batch: install.batch,
      fromVersion: install.fromVersion,
      state: install.state,
      rolledBack: install.rolledBack,
      error: install.error,
    },
  });
  /** A new install: its first state. */
  const publishNew = async (id: string): Promise<void> => {
    const install = await store.installs.get(id);
    if (install) await bus.publish(await installEvent(install));
  };
  /** Publishes what one write to an install changed, as its transaction found it: steps, then state. */
  const publishChange = async (change: InstallChange | undefined): Promise<void> => {
    if (!change) return;
    const { install } = change;
    if (change.steps.length === 0 && !change.stateChanged) return;
    const env = await hostEnv(install.hostId);
    for (const step of change.steps) {
      await bus.publish({
        kind: 'install.step',
        app: install.app,
        env,
        deploymentId: install.deploymentId,
        hostId: install.hostId,
        data: {
          installId: install.id,
          host: install.host,
          version: install.version,
          step: step.step,
          state: step.state,
          exitCode: step.exitCode,
          durationMs: step.durationMs,
        },
      });
    }
    if (change.stateChanged) await bus.publish(await installEvent(install));
  };
  const publishDeployment = async (
    kind: 'deployment.created' | 'deployment.state',
    id: string,
  ): Promise<void> => {
    const deployment = await store.deployments.get(id);
    if (deployment) await bus.publish(deploymentEvent(kind, deployment));
  };

  const bundles: Partial<BundleStore> = {
    async record(bundle, beforeCommit, sign) {
      const result = await store.bundles.record(bundle, beforeCommit, sign);
      if (result.created) {
        await bus.publish({
          kind: 'bundle.pushed',
          app: result.bundle.app,
          env: null,
          deploymentId: null,
          hostId: null,
          data: {
            version: result.bundle.version,
            sha256: result.bundle.sha256,
            label: result.bundle.label,
            by: result.bundle.pushedBy,
          },
        });
      }
      return result;
    },
  };

  const hosts: Partial<HostStore> = {
    // A sample is taken when a host's facts changed (see HostFactsService): that is the event.
    async addFactsSample(hostId, sample, retention) {
      await store.hosts.addFactsSample(hostId, sample, retention);
      const host = await store.hosts.get(hostId);
      if (!host) return;
      await bus.publish({
        kind: 'host.facts',
        app: null,
        env: host.env,
        deploymentId: null,
        hostId,
        data: { host: host.name },
      });
    },

    async setPresence(id, connected, at) {
      const before = await store.hosts.get(id);
      await store.hosts.setPresence(id, connected, at);
      if (!before || before.connected === connected) return;
      await bus.publish({
        kind: connected ? 'host.connected' : 'host.disconnected',
        app: null,
        env: before.env,
        deploymentId: null,
        hostId: id,
        data: { host: before.name },
      });
    },
  };

  const verdicts: Partial<VerdictStore> = {
    async record(verdict, condition) {
      const result = await store.verdicts.record(verdict, condition);
      if (!result.recorded) return result;
      await bus.publish({
        kind: 'verdict.changed',
        app: verdict.app,
        env: null,
        deploymentId: null,
        hostId: null,
        data: {
          version: verdict.version,
          verdict: verdict.verdict,
          previous: result.previous,
          by: verdict.by,
          note: verdict.note,
        },
      });
      return result;
    },
  };

  const deployments: Partial<DeploymentStore> = {
    async create(deployment, installs, options) {
      const result = await store.deployments.create(deployment, installs, options);
      if (result.created) {
        await publishDeployment('deployment.created', deployment.id);
        for (const install of installs) await publishNew(install.id);
      }
      return result;
    },

    async update(id, patch, options) {
      // Installs it may cancel with the change: each that moved gets its event.
      const before = options?.cancelUnstarted
        ? await store.installs.list({ deploymentId: id })
        : [];
      const changed = await store.deployments.update(id, patch, options);
      if (changed && (patch.state !== undefined || patch.phase !== undefined)) {
        await publishDeployment('deployment.state', id);
      }
      // Installs recorded with the change (a queued deployment's plan, reverts): their first state.
      if (changed) for (const install of options?.installs ?? []) await publishNew(install.id);
      if (changed && before.length > 0) {
        for (const install of await store.installs.list({ deploymentId: id })) {
          const was = before.find((b) => b.id === install.id);
          // Only what the cancel moved: another writer publishes its own moves.
          if (was && UNSTARTED_INSTALL_STATES.includes(was.state) && isWithdrawn(install.state))
            await bus.publish(await installEvent(install));
        }
      }
      return changed;
    },
  };

  const installs: Partial<InstallStore> = {
    async create(install) {
      await store.installs.create(install);
      await publishNew(install.id);
    },

    async createMany(installs) {
      await store.installs.createMany(installs);
      for (const install of installs) await publishNew(install.id);
    },

    async mark(id, patch, from) {
      // A move to a state it may already be in is a change only if it was not:
      // only then is the state before read. A mark never changes steps.
      const before = from.includes(patch.state)
        ? await store.installs.get(id, { steps: false })
        : undefined;
      const moved = await store.installs.mark(id, patch, from);
      if (!moved || before?.state === patch.state) return moved;
      const after = await store.installs.get(id, { steps: false });
      if (after && after.state !== before?.state) await bus.publish(await installEvent(after));
      return moved;
    },

    async finish(id, outcome) {
      const change = await store.installs.finish(id, outcome);
      await publishChange(change);
      return change;
    },

    async recordStep(installId, report, hostId) {
      // Output is not an event: `ferry logs` and the step's end carry it.
      const change = await store.installs.recordStep(installId, report, hostId);
      await publishChange(change);
      return change;
    },
  };

  const noteEvent = (
    note: Pick<NoteRecord, 'id' | 'on'>,
    change: 'added' | 'edited' | 'action-added' | 'action-done',
    actionId: number | null,
    by: string,
  ): NewFerryEvent => ({
    kind: 'note.changed',
    app: note.on.kind === 'bundle' ? note.on.app : null,
    env: null,
    deploymentId: null,
    hostId: null,
    data: {
      noteId: note.id,
      change,
      actionId,
      version: note.on.kind === 'bundle' ? note.on.version : null,
      label: note.on.kind === 'label' ? note.on.label : null,
      by,
    },
  });
  const notes: Partial<NoteStore> = {
    async add(note) {
      const added = await store.notes.add(note);
      await bus.publish(noteEvent(added, 'added', null, note.by));
      return added;
    },

    async edit(id, patch, change) {
      const edited = await store.notes.edit(id, patch, change);
      if (edited) await bus.publish(noteEvent(edited.after, 'edited', null, change.by));
      return edited;
    },

    async addAction(action) {
      const added = await store.notes.addAction(action);
      const note = added && (await store.notes.get(added.noteId));
      if (added && note) await bus.publish(noteEvent(note, 'action-added', added.id, action.by));
      return added;
    },

    async completeAction(id, change) {
      const result = await store.notes.completeAction(id, change);
      const note = result?.changed && (await store.notes.get(result.action.noteId));
      if (result && note) {
        await bus.publish(noteEvent(note, 'action-done', result.action.id, change.by));
      }
      return result;
    },
  };

  const health: Partial<HealthStore> = {
    async record(report) {
      const change = await store.health.record(report);
      // A report older than the one kept says nothing of now.
      if (change.stale) return change;
      const host = await store.hosts.get(report.hostId);
      const data = {
        host: host?.name ?? report.hostId,
        version: report.version,
        state: report.state,
        previous: change.previous,
        since: report.since,
        answer: report.answer,
        restarts: report.restarts,
      };
      const env = host?.env ?? null;
      if (change.changed) {
        await bus.publish({
          kind: 'host.health',
          app: report.app,
          env,
          deploymentId: null,
          hostId: report.hostId,
          data,
        });
      }
      // Every report, changed or not: its alert is raised (or cleared) even when
      // an earlier delivery of it was kept but its effects did not run.
      bus.notify({
        kind: 'service.reported',
        hostId: report.hostId,
        app: report.app,
        env,
        data,
        restartsBefore: change.restartsBefore,
      });
      return change;
    },
  };

  const alertEvent = (
    kind: 'alert.raised' | 'alert.cleared',
    alert: StoredAlert,
  ): NewFerryEvent => ({
    kind,
    app: alert.app,
    env: alert.env,
    deploymentId: alert.deploymentId,
    hostId: alert.hostId,
    data: {
      alertId: alert.id,
      alertKind: alert.kind,
      host: alert.host,
      version: alert.version,
      message: alert.message,
      startedAt: alert.startedAt,
      clearedAt: alert.clearedAt,
    },
  });
  const alerts: Partial<AlertStore> = {
    async raise(alert) {
      const result = await store.alerts.raise(alert);
      if (result.raised) await bus.publish(alertEvent('alert.raised', result.alert));
      return result;
    },

    async clear(key, at, because) {
      const cleared = await store.alerts.clear(key, at, because);
      if (cleared) await bus.publish(alertEvent('alert.cleared', cleared));
      return cleared;
    },
  };

  const writes: Partial<Store> = {
    health: overriding(store.health, health),
    alerts: overriding(store.alerts, alerts),
    bundles: overriding(store.bundles, bundles),
    hosts: overriding(store.hosts, hosts),
    deployments: overriding(store.deployments, deployments),
    installs: overriding(store.installs, installs),
    verdicts: overriding(store.verdicts, verdicts),
    notes: overriding(store.notes, notes),
  };

  return overriding(store, writes);
}

/** `target` with some of its members replaced; the others are its own (methods bound to it). */
function overriding<T extends object>(target: T, replaced: Partial<T>): T {
  return new Proxy(target, {
    get(from, property, receiver) {
      if (Object.hasOwn(replaced, property)) return replaced[property as keyof T];
      const value: unknown = Reflect.get(from, property, receiver);
      return typeof value === 'function' ? (value as () => unknown).bind(from) : value;
    },
  });
}
