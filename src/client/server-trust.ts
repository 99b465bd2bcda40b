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
 * redirects are followed (the API sends none).
 */
async function nodeFetch(
  agent: https.Agent,
  input: string | URL | Request,
  init: RequestInit = {},
): Promise<Response> {
  const url = new URL(input instanceof Request ? input.url : input);
  const headers = new Headers(init.headers);
  const { signal } = init;
  signal?.throwIfAborted();
  return new Promise<Response>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      method: init.method ?? 'GET',
      headers: Object.fromEntries(headers.entries()),
      agent: url.protocol === 'https:' ? agent : plainAgent,
      ...(signal ? { signal } : {}),
    });
    request.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })));
    request.on('response', (answer) => {
      const responseHeaders = new Headers();
      for (const [name, value] of Object.entries(answer.headers)) {
        if (value === undefined) continue;
        for (const one of Array.isArray(value) ? value : [value]) responseHeaders.append(name, one);
      }
      const status = answer.statusCode ?? 0;
      const empty = status === 204 || status === 304 || init.method === 'HEAD';
      if (empty) answer.resume();
      // A broken-off body errors the stream as fetch's body would.
      const body = empty ? null : (Readable.toWeb(answer) as ReadableStream<Uint8Array>);
      resolve(
        new Response(body, {
          status,
          statusText: answer.statusMessage ?? '',
          headers: responseHeaders,
        }),
      );
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
