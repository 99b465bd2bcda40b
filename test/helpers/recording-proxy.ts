import net from 'node:net';

/**
 * A raw TCP proxy on loopback that records every byte it carries, both ways:
 * what an eavesdropper on the network path would see.
 *
 * @example
 *   const proxy = await RecordingProxy.start(serverPort);
 *   // … traffic through `https://127.0.0.1:${proxy.port}` …
 *   proxy.captured().includes(Buffer.from(secret)); // false over TLS
 */
export class RecordingProxy {
  private readonly chunks: Buffer[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    private readonly upstreamPort: number,
  ) {}

  static async start(upstreamPort: number): Promise<RecordingProxy> {
    const server = net.createServer();
    const proxy = new RecordingProxy(server, upstreamPort);
    server.on('connection', (client) => proxy.carry(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Every byte carried so far, both directions. */
  captured(): Buffer {
    return Buffer.concat(this.chunks);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private carry(client: net.Socket): void {
    const upstream = net.connect(this.upstreamPort, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(from);
      from.on('data', (chunk: Buffer) => {
        this.chunks.push(Buffer.from(chunk));
        to.write(chunk);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
    }
  }
}
