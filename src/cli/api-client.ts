import { type StreamOptions, type StreamQuery, streamEvents } from '../client/event-stream.js';
import type { FerryEvent } from '../protocol/events.js';
import type { DeliveryRecord, WebhookAddBody, WebhookRecord } from '../protocol/webhook-api.js';
import { FerryClient } from '../client/ferry-client.js';
import { ServerTrust } from '../client/server-trust.js';
import {
  type BundleAddress,
  downloadBundleFile,
  pushBundleFile,
  type TransferProgress,
} from '../client/node-transfers.js';
import type {
  AppSummary,
  BundleDetail,
  BundleDetailWithVerdict,
  BundleRecord,
  EnvironmentRecord,
  HostRecord,
  InstallLogs,
  InstallRecord,
  PushResult,
  TokenCreateBody,
  TokenRecord,
  VariableRecord,
  VariableScopeQuery,
  VariableSetBody,
  VariableSetResult,
  VerdictMarkBody,
  VerdictMarkResult,
  VerdictRecord,
  Whoami,
} from '../protocol/api.js';
import type {
  AppStatus,
  DeployBody,
  DeploymentLogs,
  DeploymentRecord,
  HistoryEntry,
  PromoteBody,
  RollbackBody,
} from '../protocol/deployment-api.js';
import type { AuditAnswer, AuditQuery } from '../protocol/audit-api.js';
import type { AlertsAnswer, AlertsQuery } from '../protocol/alert-api.js';
import type { HostFactsAnswer } from '../protocol/host-facts.js';
import type {
  ActionAddBody,
  ActionDoneResult,
  ActionListItem,
  ActionRecord,
  NoteAddBody,
  NoteEditBody,
  NoteRecord,
} from '../protocol/note-api.js';
import type { DriftAnswer, DriftQuery } from '../protocol/report-api.js';

export type { TransferProgress } from '../client/node-transfers.js';

/**
 * The CLI's calls of the HTTP API, by what each command needs; each one is a
 * call of the one typed client (`client/`). Errors come back as `FerryError`
 * with the server's code; a server that cannot be reached is
 * `E_SERVER_UNREACHABLE`.
 *
 * @example
 *   const api = new ApiClient('http://127.0.0.1:7400', token);
 *   const apps = await api.apps();
 */
export class ApiClient {
  readonly baseUrl: string;
  /** The typed client underneath, for calls by route name. */
  readonly client: FerryClient;

  constructor(
    baseUrl: string,
    token: string | undefined,
    /** How the server's certificate is checked: its pinned CA, or the system's store (the default). */
    readonly trust: ServerTrust = ServerTrust.system(),
  ) {
    this.client = new FerryClient(baseUrl, token, trust.clientOptions());
    this.baseUrl = this.client.baseUrl;
  }

  async whoami(): Promise<Whoami> {
    return this.client.call('whoami');
  }

  async apps(): Promise<AppSummary[]> {
    return (await this.client.call('apps')).apps;
  }

  async bundles(app: string, limit?: number): Promise<BundleRecord[]> {
    return (await this.client.call('bundles', { params: { app }, query: { limit } })).bundles;
  }

  bundle(app: string, version: number): Promise<BundleDetail> {
    return this.bundleWithVerdict(app, version);
  }

  /** One bundle's detail with its verdict now (`pending` until QA marks it). */
  bundleWithVerdict(app: string, version: number): Promise<BundleDetailWithVerdict> {
    return this.client.call('bundle', { params: { app, version } });
  }

  /** Marks a bundle passed or failed; the answer says where it is live. */
  markVerdict(app: string, version: number, body: VerdictMarkBody): Promise<VerdictMarkResult> {
    return this.client.call('markVerdict', { params: { app, version }, body });
  }

  /** A bundle's verdict changes, newest first. */
  async verdicts(app: string, version: number): Promise<VerdictRecord[]> {
    return (await this.client.call('verdicts', { params: { app, version } })).verdicts;
  }

  /** `ferry deploy`: starts a deployment; `E_DEPLOY_LOCKED` when one is active there. */
  deploy(body: DeployBody): Promise<DeploymentRecord> {
    return this.client.call('deploy', { body });
  }

  promote(body: PromoteBody): Promise<DeploymentRecord> {
    return this.client.call('promote', { body });
  }

  rollback(body: RollbackBody): Promise<DeploymentRecord> {
    return this.client.call('rollback', { body });
  }

  /**
   * Streams the server's events matching `query`, after `after` (or from now),
   * until `onEvent` returns false or `signal` aborts; reconnects by itself.
   */
  followEvents(
    query: StreamQuery,
    after: string | undefined,
    onEvent: (event: FerryEvent) => boolean | void,
    more: Pick<StreamOptions, 'signal' | 'onGap' | 'onReconnect' | 'onOpen'> = {},
  ): Promise<void> {
    return streamEvents({
      client: this.client,
      query,
      after,
      onEvent,
      ...more,
    });
  }

  deployment(id: string): Promise<DeploymentRecord> {
    return this.client.call('deployment', { params: { id } });
  }

  cancelDeployment(id: string): Promise<DeploymentRecord> {
    return this.client.call('cancelDeployment', { params: { id } });
  }

  resumeDeployment(id: string): Promise<DeploymentRecord> {
    return this.client.call('resumeDeployment', { params: { id } });
  }

  rollbackBakingDeployment(id: string): Promise<DeploymentRecord> {
    return this.client.call('rollbackBakingDeployment', { params: { id } });
  }

  async deployments(
    query: { app?: string; env?: string; limit?: number } = {},
  ): Promise<DeploymentRecord[]> {
    return (await this.client.call('deployments', { query })).deployments;
  }

  deploymentLogs(id: string, host?: string): Promise<DeploymentLogs> {
    return this.client.call('deploymentLogs', { params: { id }, query: { host } });
  }

  async status(app?: string): Promise<AppStatus[]> {
    return (await this.client.call('status', { query: { app } })).apps;
  }

  /** An app's history, or (without an app) every app's and the server's own. */
  async history(app: string | undefined, limit?: number): Promise<HistoryEntry[]> {
    const answer =
      app === undefined
        ? await this.client.call('history', { query: { limit } })
        : await this.client.call('appHistory', { params: { app }, query: { limit } });
    return answer.history;
  }

  /** The audit log (admin): the newest entries asked for, oldest first, and whether there are more. */
  audit(query: AuditQuery = {}): Promise<AuditAnswer> {
    return this.client.call('audit', { query });
  }

  /** Alerts, newest first (`ferry alerts`). */
  alerts(query: AlertsQuery = {}): Promise<AlertsAnswer> {
    return this.client.call('alerts', { query });
  }

  /** `ferry note add`: a note on a bundle or a label; the answer has its new id. */
  addNote(body: NoteAddBody): Promise<NoteRecord> {
    return this.client.call('addNote', { body });
  }

  /** Notes with their actions: of a bundle, an app, a label, or all. */
  async notes(
    query: { app?: string; version?: number; label?: string } = {},
  ): Promise<NoteRecord[]> {
    return (await this.client.call('notes', { query })).notes;
  }

  note(id: number): Promise<NoteRecord> {
    return this.client.call('note', { params: { id } });
  }

  editNote(id: number, body: NoteEditBody): Promise<NoteRecord> {
    return this.client.call('editNote', { params: { id }, body });
  }

  addAction(noteId: number, body: ActionAddBody): Promise<ActionRecord> {
    return this.client.call('addAction', { params: { id: noteId }, body });
  }

  /** Marks an action done; `changed` is false when it was done already. */
  completeAction(id: number): Promise<ActionDoneResult> {
    return this.client.call('completeAction', { params: { id } });
  }

  /** Actions with what their note is about: of one owner, only the open ones. */
  async actions(query: { owner?: string; open?: boolean } = {}): Promise<ActionListItem[]> {
    const { owner, open } = query;
    return (
      await this.client.call('actions', {
        query: { owner, open: open === undefined ? undefined : open ? 'true' : 'false' },
      })
    ).actions;
  }

  createToken(
    body: TokenCreateBody,
  ): Promise<TokenRecord & { token: string; caFingerprint?: string | null | undefined }> {
    return this.client.call('createToken', { body });
  }

  /** Tokens; host credentials their rotation replaced only with `all`. */
  async tokens(options: { all?: boolean } = {}): Promise<TokenRecord[]> {
    return (await this.client.call('tokens', { query: { all: options.all ? 'true' : undefined } }))
      .tokens;
  }

  async environments(): Promise<EnvironmentRecord[]> {
    return (await this.client.call('environments')).environments;
  }

  /** What differs now between the hosts of each environment (`ferry drift`). */
  drift(query: DriftQuery = {}): Promise<DriftAnswer> {
    return this.client.call('drift', { query });
  }

  async hosts(env?: string): Promise<HostRecord[]> {
    return (await this.hostList(env)).hosts;
  }

  /** The hosts, whether the server says it speaks plain HTTP, and when its CA ends. */
  async hostList(env?: string): Promise<{
    hosts: HostRecord[];
    insecureHttp?: boolean | undefined;
    caExpiresAt?: string | undefined;
  }> {
    return this.client.call('hosts', { query: { env: env || undefined } });
  }

  /** A host's latest facts, and its newest `history` samples of them. */
  hostFacts(name: string, history = 0): Promise<HostFactsAnswer> {
    return this.client.call('hostFacts', { params: { name }, query: { history } });
  }

  /** Removes a host (admin): it is cut off, and its name may be enrolled again. */
  async removeHost(name: string): Promise<void> {
    await this.client.call('removeHost', { params: { name } });
  }

  createInstall(body: { app: string; version: number; host: string }): Promise<InstallRecord> {
    return this.client.call('createInstall', { body });
  }

  install(id: string): Promise<InstallRecord> {
    return this.client.call('install', { params: { id } });
  }

  installLogs(id: string): Promise<InstallLogs> {
    return this.client.call('installLogs', { params: { id } });
  }

  setVariable(body: VariableSetBody): Promise<VariableSetResult> {
    return this.client.call('setVariable', { body });
  }

  /** Variables, secrets without their values: all, or those of one scope. */
  async variables(scope: VariableScopeQuery = {}): Promise<VariableRecord[]> {
    return (await this.client.call('variables', { query: scopeQuery(scope) })).variables;
  }

  async unsetVariable(name: string, scope: VariableScopeQuery = {}): Promise<void> {
    await this.client.call('unsetVariable', { params: { name }, query: scopeQuery(scope) });
  }

  async revokeToken(id: string): Promise<void> {
    await this.client.call('revokeToken', { params: { id } });
  }

  /** `ferry webhooks add`: the answer holds the webhook's secret, shown this once. */
  addWebhook(
    body: Partial<WebhookAddBody> & { url: string },
  ): Promise<WebhookRecord & { secret: string }> {
    return this.client.call('addWebhook', { body });
  }

  async webhooks(): Promise<WebhookRecord[]> {
    return (await this.client.call('webhooks', {})).webhooks;
  }

  /** Sends a ping to a webhook now; the delivery says how its receiver answered. */
  async testWebhook(id: string): Promise<DeliveryRecord> {
    return (await this.client.call('testWebhook', { params: { id } })).delivery;
  }

  async webhookDeliveries(id: string, limit?: number): Promise<DeliveryRecord[]> {
    return (await this.client.call('webhookDeliveries', { params: { id }, query: { limit } }))
      .deliveries;
  }

  async removeWebhook(id: string): Promise<void> {
    await this.client.call('removeWebhook', { params: { id } });
  }

  /** Streams a bundle file to the server; memory stays flat whatever its size. */
  push(
    file: string,
    options: {
      label?: string | undefined;
      signature?: { signature: string; publicKey: string } | undefined;
      onProgress?: TransferProgress;
    } = {},
  ): Promise<PushResult> {
    return pushBundleFile(this.client, file, options);
  }

  /**
   * Downloads a bundle to `out` and checks its sha256 against the server's record;
   * a download that fails or does not match leaves nothing at `out`.
   */
  download(
    app: string,
    version: number,
    out: string,
    onProgress?: TransferProgress,
  ): Promise<{ sha256: string; size: number }> {
    const bundle: BundleAddress = { app, version };
    return downloadBundleFile(this.client, bundle, out, onProgress);
  }
}

/** The scope's fields only, in a fixed order (`?env=qa`); none for the global scope. */
function scopeQuery(scope: VariableScopeQuery): VariableScopeQuery {
  const { env, role, host, app } = scope;
  return { env, role, host, app };
}
