import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

/**
 * Which certificates a Node client of a Ferry server trusts: exactly the
 * server's own CA (pinned at enrolment or login), or, without one, the
 * system's store (a certificate from a public CA). It gives the `fetch`, the
 * `https` agent and the WebSocket options that say so; every HTTP and
 * WebSocket connection of an agent or the CLI goes through one.
 *
 * @example
 *   const trust = ServerTrust.pinned(readFileSync('<root>/agent/server-ca.pem', 'utf8'));
 *   new FerryClient(url, token, { fetch: trust.fetch });
 */
export class ServerTrust {
  /** The `https` agent every request goes through (keep-alive, this trust's CA). */
  readonly agent: https.Agent;
  /** A `fetch` for Node that verifies the server against this trust (and speaks plain HTTP to `http:`). */
  readonly fetch: typeof fetch;

  private constructor(
    /** The CA certificates trusted instead of the system's store (PEM), or undefined for the store. */
    readonly ca: string | undefined,
  ) {
    this.agent = new https.Agent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) });
    this.fetch = (input, init) => nodeFetch(this.agent, input, init);
  }

  /** Trust the system's store: a server with a certificate from a public CA. */
  static system(): ServerTrust {
    return new ServerTrust(undefined);
  }

  /** Trust only these CA certificates (PEM, one or more). */
  static pinned(caPem: string): ServerTrust {
    return new ServerTrust(caPem);
  }

  /** Options for a `FerryClient` that verifies its server this way. */
  clientOptions(): { fetch: typeof fetch; tls: { ca?: string } } {
    return { fetch: this.fetch, tls: this.tlsOptions() };
  }

  /** Options for `node:https` requests and `ws` connections. */
  tlsOptions(): { ca?: string } {
    return this.ca === undefined ? {} : { ca: this.ca };
  }
}

const plainAgent = new http.Agent({ keepAlive: true });

/**
 * `fetch` over `node:http`/`node:https` with the given agent: Node's own fetch
 * takes no CA without the undici package. It supports what Ferry's clients
 * use: a method, headers, a string or stream body, an abort signal; no
 * redirects are followed (the API sends none). Its answer is a `NodeResponse`,
 * not Node's `Response`: `Headers` and `Response` load undici, +8 MiB for as
 * long as an agent runs (bench/README.md, "Lean agent").
 */
async function nodeFetch(
  agent: https.Agent,
  input: string | URL | Request,
  init: RequestInit = {},
): Promise<Response> {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const { signal } = init;
  signal?.throwIfAborted();
  return new Promise<Response>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: init.method ?? 'GET',
      headers: headerRecord(init.headers),
      agent: url.protocol === 'https:' ? agent : plainAgent,
      ...(signal ? { signal } : {}),
    });
    request.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
    request.on('response', (answer) => {
      const status = answer.statusCode ?? 0;
      const empty = status === 204 || status === 304 || init.method === 'HEAD';
      if (empty) answer.resume();
      resolve(new NodeResponse(answer, empty) as unknown as Response);
    });
    const body = init.body;
    if (body === undefined || body === null) {
      request.end();
    } else if (
      typeof body === 'string' ||
      body instanceof Uint8Array ||
      body instanceof ArrayBuffer
    ) {
      request.end(typeof body === 'string' ? body : Buffer.from(body as ArrayBuffer));
    } else if (body instanceof ReadableStream) {
      Readable.fromWeb(body).pipe(request);
    } else if (body instanceof Readable) {
      body.pipe(request);
    } else {
      request.destroy();
      reject(new TypeError('This fetch takes a string, bytes or a stream as body'));
    }
  });
}

/** A request's headers as `node:http` takes them, from a record, pairs or a `Headers`. */
function headerRecord(headers: RequestInit['headers']): Record<string, string> {
  const record: Record<string, string> = {};
  const add = (name: string, value: string) => {
    const key = name.toLowerCase();
    record[key] = key in record ? `${record[key]}, ${value}` : value;
  };
  if (headers === undefined) return record;
  if (Array.isArray(headers)) {
    for (const [name, value] of headers as [string, string][]) add(name, value);
  } else if (typeof (headers as Headers).forEach === 'function') {
    (headers as Headers).forEach((value, name) => add(name, value));
  } else {
    for (const [name, value] of Object.entries(headers as Record<string, string>)) add(name, value);
  }
  return record;
}

/**
 * The part of a WHATWG `Response` that Ferry's clients (and tests) read,
 * around a `node:http` answer: `ok`, `status`, `statusText`, `headers` (`get`,
 * `has`, iteration), `body` (a web stream, made when asked for), `text()`,
 * `json()`, `arrayBuffer()` and `clone()`. A body broken off errors its reads,
 * as fetch's would.
 */
class NodeResponse {
  readonly status: number;
  readonly statusText: string;
  readonly ok: boolean;
  readonly redirected = false;
  private used = false;

  constructor(
    private readonly answer: http.IncomingMessage,
    /** An answer without a body (204, 304, HEAD). */
    private readonly empty: boolean,
    readonly headers = new AnswerHeaders(answer.headers),
    /** The body as a web stream, once asked for (or given to a clone). */
    private stream?: ReadableStream<Uint8Array> | null,
  ) {
    this.status = answer.statusCode ?? 0;
    this.statusText = answer.statusMessage ?? '';
    this.ok = this.status >= 200 && this.status <= 299;
  }

  get bodyUsed(): boolean {
    return this.used;
  }

  get body(): ReadableStream<Uint8Array> | null {
    if (this.stream === undefined) {
      this.stream = this.empty ? null : (Readable.toWeb(this.answer) as ReadableStream<Uint8Array>);
    }
    return this.stream;
  }

  /** A second response with the same answer, each reading the whole body. */
  clone(): NodeResponse {
    if (this.used) throw new TypeError('Response.clone: Body has already been consumed.');
    const body = this.body;
    if (body === null) return new NodeResponse(this.answer, this.empty, this.headers, null);
    const [mine, theirs] = body.tee();
    this.stream = mine;
    return new NodeResponse(this.answer, this.empty, this.headers, theirs);
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.bytes();
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }

  private async bytes(): Promise<Buffer> {
    if (this.used) throw new TypeError('Body is unusable: Body has already been read');
    this.used = true;
    if (this.empty) return Buffer.alloc(0);
    // Read from the node stream itself unless a web stream was made of it.
    const source: AsyncIterable<Uint8Array> = this.stream ?? this.answer;
    const chunks: Uint8Array[] = [];
    for await (const chunk of source) chunks.push(chunk);
    return Buffer.concat(chunks);
  }
}

/** The `get`, `has` and iteration of a WHATWG `Headers`, over an answer's headers. */
class AnswerHeaders {
  constructor(private readonly raw: http.IncomingHttpHeaders) {}

  get(name: string): string | null {
    const value = this.raw[name.toLowerCase()];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(', ') : value;
  }

  has(name: string): boolean {
    return this.raw[name.toLowerCase()] !== undefined;
  }

  forEach(callback: (value: string, name: string) => void): void {
    for (const [name, value] of this.entries()) callback(value, name);
  }

  *entries(): IterableIterator<[string, string]> {
    for (const name of Object.keys(this.raw).sort()) {
      const value = this.get(name);
      if (value !== null) yield [name, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
}
