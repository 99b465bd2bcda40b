import type { z } from 'zod';
import { API_PREFIX } from '../protocol/api.js';
import { type ErrorBody, type ErrorCode, FerryError, isErrorCode } from '../protocol/errors.js';
import {
  type AnswerOf,
  type BodyInputOf,
  isStreamContent,
  jsonSchemaOf,
  pathParamNames,
  type ParamsInputOf,
  type QueryInputOf,
  type RouteDeclaration,
} from '../protocol/route-declaration.js';

/** What a call of a route takes: its path parameters, query and JSON body, as declared. */
export type CallInput<R extends RouteDeclaration> = (R['params'] extends z.ZodType
  ? { params: ParamsInputOf<R> }
  : { params?: undefined }) &
  (R['query'] extends z.ZodType ? { query?: QueryInputOf<R> } : { query?: undefined }) &
  (R['body'] extends z.ZodType ? { body: BodyInputOf<R> } : { body?: undefined });

/** A call's input, whatever the route: what the client fills a URL and body from. */
interface AnyCallInput {
  params?: Record<string, string | number | undefined>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
}

/** The input argument of a call: optional when the route needs none. */
type InputArgs<R extends RouteDeclaration> =
  Record<string, never> extends CallInput<R> ? [input?: CallInput<R>] : [input: CallInput<R>];

/** How one call is made, beyond its declared input. */
export interface CallOptions {
  signal?: AbortSignal;
  /** More request headers (`Range`). */
  headers?: Record<string, string>;
  /** A body that is bytes, for a route that takes them (a bundle). */
  stream?: { body: NonNullable<RequestInit['body']>; contentLength?: number };
}

/** How a client is made, beyond its server and token. */
export interface FerryClientOptions {
  /**
   * Headers for every request, asked for each time (so they may change): the
   * dashboard's page gives its session's CSRF token, `{ 'x-ferry-csrf': csrf }`.
   */
  headers?: () => Record<string, string>;
  /**
   * The `fetch` every call goes through; the global one unless given. In Node,
   * a `ServerTrust`'s, which trusts exactly the server's pinned CA.
   */
  fetch?: typeof fetch;
  /**
   * TLS options for the Node-only connections made without `fetch` (uploads,
   * the agent's WebSocket): `ServerTrust.tlsOptions()`, the pinned CA.
   */
  tls?: { ca?: string };
  /**
   * How this client comes to trust a server whose certificate it does not
   * (`E_SERVER_UNTRUSTED`'s advice, after a colon). The CLI's when not given:
   * pin the CA with `ferry login --join`. An agent gives its own: enrol again
   * with a join string.
   */
  untrustedAdvice?: string;
}

/**
 * An error the server answered with, or one made of an answer that was not an
 * error body: the project's error with its code, and the HTTP status it came
 * with (a proxy's 502 is not the catalogue's 500).
 */
export class ApiError extends FerryError {
  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> | undefined,
    /** The HTTP status of the answer. */
    readonly httpStatus: number,
  ) {
    super(code, message, details);
  }

  override get status(): number {
    return this.httpStatus;
  }
}

/** A table of route declarations, by name: the whole API's (`ROUTES`) or a part of it (`AGENT_ROUTES`). */
export type RouteTable = Record<string, RouteDeclaration>;

/**
 * A client of the HTTP API over a table of route declarations: each route is
 * called by its name, with its params, query and body typed, and its answer
 * parsed with its schema. `FerryClient` is the one over every route; an agent
 * uses one over its own few (`AgentClient`), so that it never loads the
 * whole table's schemas (bench/README.md, "Lean agent"). It uses only
 * `fetch`, so it runs in Node and in a browser. Errors arrive as `FerryError`
 * with the server's code (`ApiError`, with the HTTP status); a server that
 * cannot be reached is `E_SERVER_UNREACHABLE`.
 */
export class RouteClient<T extends RouteTable> {
  readonly baseUrl: string;

  constructor(
    private readonly routes: T,
    baseUrl: string,
    /** The bearer token, or how to read it each time (an agent's host credential rotates). */
    private readonly token: string | undefined | (() => string | undefined),
    private readonly options: FerryClientOptions = {},
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  /** Calls a route with a JSON (or empty) answer and returns the answer, parsed. */
  async call<N extends keyof T & string>(
    name: N,
    ...args: [...InputArgs<T[N]>, options?: CallOptions]
  ): Promise<AnswerOf<T[N]>> {
    const [input, options] = args as unknown as [AnyCallInput | undefined, CallOptions?];
    const route: RouteDeclaration = this.route(name);
    const response = await this.sendAny(name, input, options);
    const schema = jsonSchemaOf(route.answer);
    if (schema === undefined) {
      await response.body?.cancel();
      return undefined as AnswerOf<T[N]>;
    }
    const text = await this.read(response, options?.signal);
    const result = schema.safeParse(parseJson(text));
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new ApiError(
        'E_INTERNAL',
        `The server's answer to ${route.method} ${route.path} was not understood (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}); are client and server the same Ferry version?`,
        { route: name, notUnderstood: true },
        response.status,
      );
    }
    return result.data as AnswerOf<T[N]>;
  }

  /**
   * Calls a route and returns its successful response unread: for an answer
   * that is bytes (a bundle download). An error answer throws, as `call` does.
   */
  send<N extends keyof T & string>(
    name: N,
    input: CallInput<T[N]> | undefined,
    options: CallOptions = {},
  ): Promise<Response> {
    return this.sendAny(name, input as AnyCallInput | undefined, options);
  }

  private async sendAny(
    name: string,
    input: AnyCallInput | undefined,
    options: CallOptions = {},
  ): Promise<Response> {
    const route = this.route(name);
    const headers: Record<string, string> = { ...options.headers, ...this.headers() };
    let body: RequestInit['body'];
    if (options.stream !== undefined) {
      if (!isStreamContent(route.body)) throw new Error(`${name} takes no bytes`);
      headers['content-type'] = route.body.contentTypes[0];
      if (options.stream.contentLength !== undefined) {
        headers['content-length'] = String(options.stream.contentLength);
      }
      body = options.stream.body;
    } else if (input?.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(input.body);
    }
    let response: Response;
    try {
      response = await this.fetch(this.urlOf(name, input), {
        method: route.method,
        headers,
        ...(body === undefined ? {} : { body }),
        // A stream of bytes goes out as it is read (Node's fetch needs saying so).
        ...(options.stream ? { duplex: 'half' } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw this.unreachable((err as { cause?: unknown }).cause ?? err);
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  /** The `fetch` this client's calls go through (see `FerryClientOptions.fetch`). */
  get fetch(): typeof fetch {
    // Called as a plain function: a browser's fetch refuses any other `this`.
    return this.options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /** TLS options for connections made without `fetch` (see `FerryClientOptions.tls`). */
  tlsOptions(): { ca?: string } {
    return this.options.tls ?? {};
  }

  /** The URL of a route, its path parameters filled in and its query appended. */
  url<N extends keyof T & string>(name: N, input?: CallInput<T[N]>): string {
    return this.urlOf(name, input as AnyCallInput | undefined);
  }

  /** A route of this client's table, by name. */
  private route(name: string): RouteDeclaration {
    const route = this.routes[name];
    if (route === undefined) throw new Error(`No route named ${name}`);
    return route;
  }

  private urlOf(name: string, input: AnyCallInput | undefined): string {
    const route = this.route(name);
    const params = input?.params ?? {};
    let path = route.path;
    for (const param of pathParamNames(route.path)) {
      const value = params[param];
      if (value === undefined) throw new Error(`${name} needs the path parameter ${param}`);
      path = path.replace(`:${param}`, encodeURIComponent(String(value)));
    }
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(input?.query ?? {})) {
      if (value !== undefined) query.set(key, String(value));
    }
    const text = query.toString();
    return `${this.baseUrl}${API_PREFIX}${path}${text ? `?${text}` : ''}`;
  }

  /**
   * Every header this client puts on a request (its `Authorization`, and the
   * headers of `options.headers`), for a caller that must make its own request:
   * the event stream, an upload.
   */
  headers(): Record<string, string> {
    const token = typeof this.token === 'function' ? this.token() : this.token;
    return {
      ...this.options.headers?.(),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    };
  }

  /**
   * `E_SERVER_UNREACHABLE`, naming the server and why; `E_SERVER_UNTRUSTED` when
   * it answered with a certificate this client does not trust.
   */
  unreachable(err: unknown): FerryError {
    const reason = err instanceof Error ? err.message : String(err);
    const code = (err as { code?: unknown } | undefined)?.code;
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return this.nameMismatch(err);
    if (typeof code === 'string' && UNTRUSTED_CERTIFICATE.test(code)) {
      return new FerryError(
        'E_SERVER_UNTRUSTED',
        `The Ferry server at ${this.baseUrl} presented a certificate this client does not trust (${reason}): ${this.options.untrustedAdvice ?? 'pin its CA with `ferry login --join` (or FERRY_CA_FILE)'}`,
        { server: this.baseUrl, reason: code },
      );
    }
    return new FerryError(
      'E_SERVER_UNREACHABLE',
      `Cannot reach the Ferry server at ${this.baseUrl} (${reason})`,
      { server: this.baseUrl },
    );
  }

  /**
   * A certificate that verified (its CA is the one trusted) but does not name
   * the address dialled: pinning again would not help; dialling a name it has,
   * or adding this one to the server's certificate, does.
   */
  private nameMismatch(err: unknown): FerryError {
    const { host, cert } = err as { host?: unknown; cert?: { subjectaltname?: unknown } };
    const dialled = typeof host === 'string' ? host : new URL(this.baseUrl).hostname;
    const names =
      typeof cert?.subjectaltname === 'string'
        ? cert.subjectaltname
            .split(', ')
            .map((name) => name.replace(/^(DNS|IP Address):/, ''))
            .filter(Boolean)
        : [];
    return new FerryError(
      'E_SERVER_NAME_MISMATCH',
      `The Ferry server at ${this.baseUrl} presented a certificate from the CA this client trusts, but it does not name ${dialled}: it names ${names.join(', ') || 'nothing'}. Dial the server by one of those names, or add ${dialled} to its certificate (\`ferry server --tls-name ${dialled}\`, FERRY_TLS_NAMES or tls.names, with every name it is reached by; its own certificate is issued again at its next start).`,
      { server: this.baseUrl, host: dialled, names },
    );
  }

  private async read(response: Response, signal: AbortSignal | undefined): Promise<string> {
    try {
      return await response.text();
    } catch (err) {
      if (signal?.aborted) throw err;
      throw this.unreachable(err);
    }
  }
}

/** Node's codes for a certificate that does not verify (not a refused or dropped connection). */
const UNTRUSTED_CERTIFICATE =
  /^(SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_[A-Z_]+)$/;

/**
 * The error of an answer that is not a success: the server's own error body
 * as a `FerryError` with its code, or `E_INTERNAL` naming the status for a body
 * that is not one (a proxy's page). The one place error bodies are read.
 */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  return errorFromAnswer(response.status, text);
}

/** As `errorFromResponse`, from a status and the body's text. */
export function errorFromAnswer(status: number, text: string): ApiError {
  const error = parseJson(text) as Partial<ErrorBody> | undefined;
  if (error && isErrorCode(error.code) && typeof error.message === 'string') {
    return new ApiError(error.code, error.message, error.details, status);
  }
  return new ApiError(
    'E_INTERNAL',
    `The server answered ${status}: ${text.slice(0, 200) || '(no body)'}`,
    { status },
    status,
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
