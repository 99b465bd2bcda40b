import net from 'node:net';

/**
 * A load balancer for tests: takes TCP connections on a port of its own and
 * hands each to the next backend in turn, skipping a backend that refuses the
 * connection — as a real balancer in front of server replicas does with a
 * replica that died.
 */
export class TcpBalancer {
  private next = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly backends: number[]) {
    this.server = net.createServer((client) => this.route(client));
  }

  static async start(backends: number[]): Promise<TcpBalancer> {
    const balancer = new TcpBalancer(backends);
    await new Promise<void>((resolve) => balancer.server.listen(0, '127.0.0.1', resolve));
    return balancer;
  }

  /** Its URL: HTTPS, as the servers behind it speak (TLS passes through it untouched). */
  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private route(client: net.Socket, tried = 0): void {
    this.sockets.add(client);
    client.once('close', () => this.sockets.delete(client));
    if (tried >= this.backends.length) {
      client.destroy();
      return;
    }
    const port = this.backends[this.next++ % this.backends.length]!;
    const upstream = net.connect(port, '127.0.0.1');
    client.pause();
    upstream.once('connect', () => {
      this.sockets.add(upstream);
      upstream.once('close', () => this.sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.resume();
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
      client.once('close', () => upstream.destroy());
    });
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' && upstream.bytesWritten === 0) {
        this.sockets.delete(client);
        this.route(client, tried + 1);
      } else {
        client.destroy();
      }
    });
  }
}
