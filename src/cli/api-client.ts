import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { z } from 'zod';
import { HashingMeter } from '../bundle/hashing.js';
import {
  API_PREFIX,
  appSummarySchema,
  bundleDetailSchema,
  bundleRecordSchema,
  pushResultSchema,
  tokenCreatedSchema,
  tokenRecordSchema,
  whoamiSchema,
  hostRecordSchema,
  environmentRecordSchema,
  type EnvironmentRecord,
  installLogsSchema,
  installRecordSchema,
  type AppSummary,
  type HostRecord,
  type InstallLogs,
  type InstallRecord,
  type BundleDetail,
  type BundleRecord,
  type PushResult,
  type TokenCreateBody,
  type TokenRecord,
  type Whoami,
  variableRecordSchema,
  variableSetResultSchema,
  type VariableRecord,
  type VariableScopeQuery,
  type VariableSetBody,
  type VariableSetResult,
  bundleDetailWithVerdictSchema,
  verdictMarkResultSchema,
  verdictRecordSchema,
  type BundleDetailWithVerdict,
  type VerdictMarkBody,
  type VerdictMarkResult,
  type VerdictRecord,
} from '../protocol/api.js';
import {
  appStatusSchema,
  deploymentLogsSchema,
  deploymentRecordSchema,
  historyEntrySchema,
  type AppStatus,
  type DeployBody,
  type DeploymentLogs,
  type DeploymentRecord,
  type HistoryEntry,
  type PromoteBody,
  type RollbackBody,
} from '../protocol/deployment-api.js';
import { type ErrorBody, FerryError, isErrorCode } from '../protocol/errors.js';
import { type HostFactsAnswer, hostFactsAnswerSchema } from '../protocol/host-facts.js';

/** Progress of a transfer, in bytes. */
export type TransferProgress = (done: number, total: number) => void;

/**
 * The CLI's only way to the server: typed calls over the HTTP API. Errors come
 * back as `FerryError` with the server's code; a server that cannot be reached is
 * `E_SERVER_UNREACHABLE`.
 *
 * @example
 *   const api = new ApiClient('http://127.0.0.1:7400', token);
 *   const { apps } = await api.apps();
 */
export class ApiClient {
  readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string | undefined,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  whoami(): Promise<Whoami> {
    return this.json('GET', '/whoami', whoamiSchema);
  }

  apps(): Promise<AppSummary[]> {
    return this.json('GET', '/apps', appSummarySchema.array(), 'apps');
  }

  bundles(app: string, limit?: number): Promise<BundleRecord[]> {
    const query = limit === undefined ? '' : `?limit=${limit}`;
    return this.json(
      'GET',
      `/apps/${encodeURIComponent(app)}/bundles${query}`,
      bundleRecordSchema.array(),
      'bundles',
    );
  }

  bundle(app: string, version: number): Promise<BundleDetail> {
    return this.json(
      'GET',
      `/apps/${encodeURIComponent(app)}/bundles/${version}`,
      bundleDetailSchema,
    );
  }

  /** One bundle's detail with its verdict now (`pending` until QA marks it). */
  bundleWithVerdict(app: string, version: number): Promise<BundleDetailWithVerdict> {
    return this.json(
      'GET',
      `/apps/${encodeURIComponent(app)}/bundles/${version}`,
      bundleDetailWithVerdictSchema,
    );
  }

  /** Marks a bundle passed or failed; the answer says where it is live. */
  markVerdict(app: string, version: number, body: VerdictMarkBody): Promise<VerdictMarkResult> {
    return this.json(
      'POST',
      `/apps/${encodeURIComponent(app)}/bundles/${version}/verdict`,
      verdictMarkResultSchema,
      undefined,
      body,
    );
  }

  /** A bundle's verdict changes, newest first. */
  verdicts(app: string, version: number): Promise<VerdictRecord[]> {
    return this.json(
      'GET',
      `/apps/${encodeURIComponent(app)}/bundles/${version}/verdicts`,
      verdictRecordSchema.array(),
      'verdicts',
    );
  }

  /** `ferry deploy`: starts a deployment; `E_DEPLOY_LOCKED` when one is active there. */
  deploy(body: DeployBody): Promise<DeploymentRecord> {
    return this.json('POST', '/deployments', deploymentRecordSchema, undefined, body);
  }

  promote(body: PromoteBody): Promise<DeploymentRecord> {
    return this.json('POST', '/promotions', deploymentRecordSchema, undefined, body);
  }

  rollback(body: RollbackBody): Promise<DeploymentRecord> {
    return this.json('POST', '/rollbacks', deploymentRecordSchema, undefined, body);
  }

  deployment(id: string): Promise<DeploymentRecord> {
    return this.json('GET', `/deployments/${encodeURIComponent(id)}`, deploymentRecordSchema);
  }

  cancelDeployment(id: string): Promise<DeploymentRecord> {
    return this.json(
      'POST',
      `/deployments/${encodeURIComponent(id)}/cancel`,
      deploymentRecordSchema,
      undefined,
      {},
    );
  }

  deployments(
    query: { app?: string; env?: string; limit?: number } = {},
  ): Promise<DeploymentRecord[]> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) params.set(key, String(value));
    const text = params.toString();
    return this.json(
      'GET',
      `/deployments${text ? `?${text}` : ''}`,
      deploymentRecordSchema.array(),
      'deployments',
    );
  }

  deploymentLogs(id: string, host?: string): Promise<DeploymentLogs> {
    const query = host === undefined ? '' : `?host=${encodeURIComponent(host)}`;
    return this.json(
      'GET',
      `/deployments/${encodeURIComponent(id)}/logs${query}`,
      deploymentLogsSchema,
    );
  }

  status(app?: string): Promise<AppStatus[]> {
    const query = app === undefined ? '' : `?app=${encodeURIComponent(app)}`;
    return this.json('GET', `/status${query}`, appStatusSchema.array(), 'apps');
  }

  /** An app's history, or (without an app) every app's and the server's own. */
  history(app: string | undefined, limit?: number): Promise<HistoryEntry[]> {
    const query = limit === undefined ? '' : `?limit=${limit}`;
    return this.json(
      'GET',
      `${app === undefined ? '' : `/apps/${encodeURIComponent(app)}`}/history${query}`,
      historyEntrySchema.array(),
      'history',
    );
  }

  createToken(body: TokenCreateBody): Promise<TokenRecord & { token: string }> {
    return this.json('POST', '/tokens', tokenCreatedSchema, undefined, body);
  }

  tokens(): Promise<TokenRecord[]> {
    return this.json('GET', '/tokens', tokenRecordSchema.array(), 'tokens');
  }

  environments(): Promise<EnvironmentRecord[]> {
    return this.json('GET', '/envs', environmentRecordSchema.array(), 'environments');
  }

  hosts(env?: string): Promise<HostRecord[]> {
    const query = env ? `?env=${encodeURIComponent(env)}` : '';
    return this.json('GET', `/hosts${query}`, hostRecordSchema.array(), 'hosts');
  }

  /** A host's latest facts, and its newest `history` samples of them. */
  hostFacts(name: string, history = 0): Promise<HostFactsAnswer> {
    return this.json(
      'GET',
      `/hosts/${encodeURIComponent(name)}/facts?history=${history}`,
      hostFactsAnswerSchema,
    );
  }

  /** Removes a host (admin): it is cut off, and its name may be enrolled again. */
  async removeHost(name: string): Promise<void> {
    await this.send('DELETE', `/hosts/${encodeURIComponent(name)}`);
  }

  createInstall(body: { app: string; version: number; host: string }): Promise<InstallRecord> {
    return this.json('POST', '/installs', installRecordSchema, undefined, body);
  }

  install(id: string): Promise<InstallRecord> {
    return this.json('GET', `/installs/${encodeURIComponent(id)}`, installRecordSchema);
  }

  installLogs(id: string): Promise<InstallLogs> {
    return this.json('GET', `/installs/${encodeURIComponent(id)}/logs`, installLogsSchema);
  }

  setVariable(body: VariableSetBody): Promise<VariableSetResult> {
    return this.json('PUT', '/vars', variableSetResultSchema, undefined, body);
  }

  /** Variables, secrets without their values: all, or those of one scope. */
  variables(scope: VariableScopeQuery = {}): Promise<VariableRecord[]> {
    return this.json('GET', `/vars${scopeQuery(scope)}`, variableRecordSchema.array(), 'variables');
  }

  async unsetVariable(name: string, scope: VariableScopeQuery = {}): Promise<void> {
    await this.send('DELETE', `/vars/${encodeURIComponent(name)}${scopeQuery(scope)}`);
  }

  async revokeToken(id: string): Promise<void> {
    await this.send('DELETE', `/tokens/${encodeURIComponent(id)}`);
  }

  /** Streams a bundle file to the server; memory stays flat whatever its size. */
  async push(
    file: string,
    options: { label?: string | undefined; onProgress?: TransferProgress } = {},
  ): Promise<PushResult> {
    const { size } = await stat(file);
    const query = options.label ? `?label=${encodeURIComponent(options.label)}` : '';
    const url = new URL(`${this.baseUrl}${API_PREFIX}/bundles${query}`);
    let sent = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        sent += chunk.length;
        options.onProgress?.(sent, size);
        callback(null, chunk);
      },
    });
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(url, {
        method: 'POST',
        headers: {
          ...this.authHeader(),
          'content-type': 'application/gzip',
          'content-length': String(size),
        },
      });
      // The server may answer before it has read everything (a refused bundle):
      // its answer counts, not the broken pipe that follows.
      request.on('response', resolve);
      request.on('error', (err) => reject(this.unreachable(err)));
      pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), counter, request).catch(
        () => {
          /* reported through the request's 'error' or 'response' */
        },
      );
    });
    return pushResultSchema.parse(await readJson(response));
  }

  /**
   * Downloads a bundle to `out` and checks its sha256 against the server's record;
   * a download that fails or does not match leaves nothing at `out`.
   */
  async download(
    app: string,
    version: number,
    out: string,
    onProgress?: TransferProgress,
  ): Promise<{ sha256: string; size: number }> {
    const response = await this.fetch(
      'GET',
      `/apps/${encodeURIComponent(app)}/bundles/${version}/download`,
    );
    if (!response.ok || !response.body) throw await errorFrom(response);
    const expected = response.headers.get('x-ferry-sha256');
    const total = Number(response.headers.get('content-length') ?? 0);
    const meter = new HashingMeter({ onProgress: (bytes) => onProgress?.(bytes, total) });
    const partial = `${out}.partial-${process.pid}`;
    try {
      await pipeline(response.body, meter, createWriteStream(partial));
      if (expected && meter.sha256() !== expected) {
        throw new FerryError(
          'E_BUNDLE_CONTENT_MISMATCH',
          `The download's sha256 ${meter.sha256()} is not the server's ${expected}`,
        );
      }
      await rename(partial, out);
    } finally {
      await rm(partial, { force: true });
    }
    return { sha256: meter.sha256(), size: meter.bytes };
  }

  private async json<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    field?: string,
    body?: unknown,
  ): Promise<z.output<S>> {
    const response = await this.send(method, path, body);
    const parsed: unknown = await response.json();
    const result = schema.safeParse(field ? (parsed as Record<string, unknown>)[field] : parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new FerryError(
        'E_INTERNAL',
        `The server's answer to ${method} ${path} was not understood (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}); are client and server the same Ferry version?`,
      );
    }
    return result.data;
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    const response = await this.fetch(method, path, body);
    if (!response.ok) throw await errorFrom(response);
    return response;
  }

  private async fetch(method: string, path: string, body?: unknown): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${API_PREFIX}${path}`, {
        method,
        headers: {
          ...this.authHeader(),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw this.unreachable((err as { cause?: unknown }).cause ?? err);
    }
  }

  private authHeader(): Record<string, string> {
    return this.token ? { authorization: `Bearer ${this.token}` } : {};
  }

  private unreachable(err: unknown): FerryError {
    const reason = err instanceof Error ? err.message : String(err);
    return new FerryError(
      'E_SERVER_UNREACHABLE',
      `Cannot reach the Ferry server at ${this.baseUrl} (${reason})`,
      {
        server: this.baseUrl,
      },
    );
  }
}

/** `?env=qa` for a variable's scope; nothing for the global scope. */
function scopeQuery(scope: VariableScopeQuery): string {
  const params = new URLSearchParams();
  for (const key of ['env', 'role', 'host', 'app'] as const) {
    const value = scope[key];
    if (value !== undefined) params.set(key, value);
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function readJson(response: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const status = response.statusCode ?? 0;
  const body = parseBody(text);
  if (status >= 400) throw toError(status, body, text);
  return body;
}

async function errorFrom(response: Response): Promise<FerryError> {
  const text = await response.text();
  return toError(response.status, parseBody(text), text);
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function toError(status: number, body: unknown, text: string): FerryError {
  const error = body as Partial<ErrorBody> | undefined;
  if (error && isErrorCode(error.code) && typeof error.message === 'string') {
    return new FerryError(error.code, error.message, error.details);
  }
  return new FerryError(
    'E_INTERNAL',
    `The server answered ${status}: ${text.slice(0, 200) || '(no body)'}`,
    { status },
  );
}
