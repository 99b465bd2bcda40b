import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import https from 'node:https';
import tls from 'node:tls';
import { harnessTrust } from '../../src/dev/harness-trust.js';

/** What the proxy does with one request: pass it on, answer it itself, or sit on it. */
export type ProxyAction = 'forward' | { status: number } | { holdMs: number };

/**
 * An HTTP proxy in front of a Ferry server that makes chosen requests slow or
 * failing on purpose — a server too busy to answer in time — and passes the
 * rest (WebSocket upgrades included) through untouched, but for a header it
 * may be told to take out of the answer to an upgrade.
 *
 * @example
 *   const proxy = await SlowProxy.start(server.url, (req, n) => (n === 1 ? { status: 503 } : 'forward'));
 */
export class SlowProxy {
  /** Requests seen, by the path they asked for. */
  readonly seen: string[] = [];
  private readonly sockets = new Set<Duplex>();
  private readonly server: http.Server;

  private constructor(
    private readonly target: URL,
    private readonly decide: (request: http.IncomingMessage, count: number) => ProxyAction,
    /** Its own certificate and key, to answer over HTTPS as a proxy in front of the server does. */
    private readonly certificate: { cert: string; key: string } | undefined,
    /** A header taken out of the server's answer to a WebSocket upgrade. */
    private readonly dropHeader: string | undefined,
  ) {
    const handler = (request: http.IncomingMessage, response: http.ServerResponse) =>
      this.handle(request, response);
    this.server = certificate
      ? https.createServer(certificate, handler)
      : http.createServer(handler);
    this.server.on('connection', (socket) => this.track(socket));
    this.server.on('upgrade', (request, socket, head) => this.upgrade(request, socket, head));
  }

  static async start(
    target: string,
    decide: (request: http.IncomingMessage, count: number) => ProxyAction,
    certificate?: { cert: string; key: string },
    options: { dropUpgradeHeader?: string } = {},
  ): Promise<SlowProxy> {
    const proxy = new SlowProxy(new URL(target), decide, certificate, options.dropUpgradeHeader);
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    const scheme = this.certificate ? 'https' : 'http';
    return `${scheme}://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    this.seen.push(request.url ?? '/');
    const count = this.seen.filter((u) => u === request.url).length;
    const action = this.decide(request, count);
    if (action === 'forward') return this.forward(request, response);
    if ('status' in action) {
      response.writeHead(action.status, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ code: 'E_INTERNAL', message: 'the server is overloaded' }));
      return;
    }
    // Held past the agent's patience, then passed on (an answer nobody waits for any more).
    setTimeout(() => this.forward(request, response), action.holdMs);
  }

  private forward(request: http.IncomingMessage, response: http.ServerResponse): void {
    // To a server over HTTPS, trusting the CAs of the harness's servers.
    const secure = this.target.protocol === 'https:';
    const upstream = (secure ? https : http).request(
      {
        host: this.target.hostname,
        port: this.target.port,
        ...(secure ? { agent: harnessTrust().agent } : {}),
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        response.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(response);
      },
    );
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  }

  private upgrade(request: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    this.track(socket);
    const port = Number(this.target.port);
    const host = this.target.hostname;
    const connected = () => {
      const lines = [`${request.method} ${request.url} HTTP/1.1`];
      for (let i = 0; i < request.rawHeaders.length; i += 2) {
        lines.push(`${request.rawHeaders[i]}: ${request.rawHeaders[i + 1]}`);
      }
      upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
      upstream.write(head);
      socket.pipe(upstream);
      if (this.dropHeader === undefined) {
        upstream.pipe(socket);
        return;
      }
      // The answer's head without the header dropped, then the rest as it is.
      const dropped = this.dropHeader.toLowerCase();
      let pending = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        upstream.off('data', onData);
        const answerHead = pending
          .subarray(0, end)
          .toString('latin1')
          .split('\r\n')
          .filter((line) => !line.toLowerCase().startsWith(`${dropped}:`))
          .join('\r\n');
        socket.write(Buffer.concat([Buffer.from(answerHead, 'latin1'), pending.subarray(end)]));
        upstream.pipe(socket);
      };
      upstream.on('data', onData);
    };
    const upstream =
      this.target.protocol === 'https:'
        ? tls.connect({ port, host, ...harnessTrust().tlsOptions() }, connected)
        : net.connect(port, host, connected);
    this.track(upstream);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  }
}
