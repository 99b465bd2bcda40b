import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the receiver got. */
export interface Received {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  answered: number;
}

/**
 * A webhook receiver for tests, a real HTTP server: records every request; a
 * path may answer 500 a few times first (`failing`); stopped, it refuses
 * connections (a receiver that is down) and can start again on its port.
 *
 * @example
 *   const receiver = new Receiver();
 *   await receiver.start();
 *   await cluster.ferry(['webhooks', 'add', receiver.url('/all')]);
 */
export class Receiver {
  readonly received: Received[] = [];
  /** Per path: how many requests still answer 500. */
  readonly failing = new Map<string, number>();
  /** Per path: what a failing answer says (else `answer 500`). */
  readonly failText = new Map<string, string>();
  private server: Server | undefined;
  port = 0;

  async start(port = 0): Promise<void> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const where = (request.url ?? '/').split('?')[0]!;
        const left = this.failing.get(where) ?? 0;
        const answered = left > 0 ? 500 : 200;
        if (left > 0) this.failing.set(where, left - 1);
        this.received.push({
          path: where,
          headers: request.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          answered,
        });
        response
          .writeHead(answered, { 'content-type': 'text/plain' })
          .end(
            answered === 200 ? 'answer 200' : (this.failText.get(where) ?? `answer ${answered}`),
          );
      });
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening: connections are refused (a receiver that is down). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  }

  url(where: string): string {
    return `http://127.0.0.1:${this.port}${where}`;
  }

  /** What a path received with a 2xx answer, as parsed JSON with its headers. */
  delivered(where: string): { json: Record<string, unknown>; raw: Received }[] {
    return this.received
      .filter((r) => r.path === where && r.answered === 200)
      .map((raw) => ({ json: JSON.parse(raw.body) as Record<string, unknown>, raw }));
  }
}

/** Checks a request's signature as a receiver would (docs/webhooks.md). */
export function signatureValid(received: Received, secret: string): boolean {
  const expected = Buffer.from(
    `sha256=${createHmac('sha256', secret).update(received.body).digest('hex')}`,
  );
  const given = Buffer.from(String(received.headers['x-ferry-signature'] ?? ''));
  return given.length === expected.length && timingSafeEqual(given, expected);
}
