import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RabbitmqAgentTransport } from '../src/transport/rabbitmq/rabbitmq-agent-transport.js';
import type { TransportLogger } from '../src/transport/transport.js';
import { Cluster, releasePort, reservePort, waitFor } from './helpers/cluster.js';
import { deleteTopology } from './helpers/rabbitmq.js';
import { amqpUrl } from './helpers/services.js';
import { webAppTree } from './helpers/web-app.js';

/**
 * RabbitMQ over TLS (`amqps://`): the server and an agent reach the broker
 * through a TLS-terminating proxy of the test's own, in front of the
 * machine's plain broker, with a CA the test made (`--amqp-ca`, `transport.ca`);
 * a rollout goes through it. A client given another CA, or none (the system's),
 * refuses the broker and says why.
 */

const run = promisify(execFile);
const url = amqpUrl();

/** A CA, and a certificate it signed for 127.0.0.1 and localhost, made with openssl. */
async function makeCa(
  dir: string,
  name: string,
): Promise<{ ca: string; key: string; cert: string }> {
  const file = (suffix: string) => path.join(dir, `${name}-${suffix}`);
  const openssl = (...args: string[]) => run('openssl', args, { timeout: 60_000 });
  await openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
  );
  await openssl(
    'req',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    file('broker.key'),
    '-out',
    file('broker.csr'),
    '-subj',
    '/CN=127.0.0.1',
  );
  await writeFile(file('broker.ext'), 'subjectAltName = IP:127.0.0.1, DNS:localhost\n');
  await openssl(
    'x509',
    '-req',
    '-in',
    file('broker.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-out',
    file('broker.pem'),
    '-days',
    '2',
    '-extfile',
    file('broker.ext'),
  );
  return { ca: file('ca.pem'), key: file('broker.key'), cert: file('broker.pem') };
}

class RecordingLogger implements TransportLogger {
  readonly lines: { level: string; details: object; message: string }[] = [];
  info(details: object, message: string): void {
    this.lines.push({ level: 'info', details, message });
  }
  warn(details: object, message: string): void {
    this.lines.push({ level: 'warn', details, message });
  }
  error(details: object, message: string): void {
    this.lines.push({ level: 'error', details, message });
  }
}

describe.skipIf(!url)('RabbitMQ over TLS (amqps://)', () => {
  let dir: string;
  let good: { ca: string; key: string; cert: string };
  let other: { ca: string; key: string; cert: string };
  let proxy: tls.Server;
  let proxyPort: number;
  let handshakes = 0;
  let amqpsUrl: string;
  const prefix = `t${randomBytes(4).toString('hex')}`;
  const hostIds: string[] = [];
  let cluster: Cluster | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-amqps-'));
    good = await makeCa(dir, 'good');
    other = await makeCa(dir, 'other');
    const broker = new URL(url!);
    proxy = tls.createServer(
      { key: await readFile(good.key), cert: await readFile(good.cert) },
      (socket) => {
        handshakes++;
        const upstream = net.connect(Number(broker.port || 5672), broker.hostname);
        socket.pipe(upstream).pipe(socket);
        const end = () => {
          socket.destroy();
          upstream.destroy();
        };
        socket.on('error', end).on('close', end);
        upstream.on('error', end).on('close', end);
      },
    );
    // A client that refuses the certificate ends the handshake: not the proxy's failure.
    proxy.on('tlsClientError', () => undefined);
    proxyPort = await reservePort();
    await new Promise<void>((resolve) => proxy.listen(proxyPort, '127.0.0.1', resolve));
    const secure = new URL(url!);
    secure.protocol = 'amqps:';
    secure.host = `127.0.0.1:${proxyPort}`;
    amqpsUrl = secure.toString();
  }, 60_000);

  afterAll(async () => {
    await cluster?.close();
    await new Promise((resolve) => proxy?.close(resolve));
    if (proxyPort) releasePort(proxyPort);
    await deleteTopology(url!, prefix, hostIds).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('rolls out through the broker over TLS, trusting the CA it is given', async () => {
    cluster = await Cluster.start({
      config: `transport: { kind: rabbitmq, url: '${amqpsUrl}', prefix: ${prefix}, ca: '${good.ca}' }\n`,
      agentArgs: () => ['--transport-prefix', prefix, '--amqp-ca', good.ca],
      // The URL carries the broker password: in the environment, not in `ps`.
      agentEnv: { FERRY_TRANSPORT_URL: amqpsUrl },
      onHostEnrolled: (hostId) => hostIds.push(hostId),
    });
    expect(cluster.logs()).toContain('transport: RabbitMQ amqps://');
    await cluster.addHost('qa-1', 'qa');
    // The server's connection and the agent's, both through the proxy.
    expect(handshakes).toBeGreaterThanOrEqual(2);
    const version = await cluster.push(webAppTree('tls'), 'tls');
    // QA deploys every push: a rollout whose job went to the agent over amqps.
    await waitFor('the rollout to reach qa-1', async () => {
      const health = await cluster!.health('qa-1');
      return health?.version === String(version) ? health : undefined;
    });
    expect(await cluster.health('qa-1')).toMatchObject({ ok: true, version: String(version) });
  }, 180_000);

  it.each([
    ['another CA', () => other.ca, /the CA in .*other-ca\.pem signed/],
    ["the system's CAs", () => undefined, /--amqp-ca FILE/],
  ])(
    'refuses the broker when given %s, saying so',
    async (_what, caFile, says) => {
      const logger = new RecordingLogger();
      const agent = new RabbitmqAgentTransport({
        url: amqpsUrl,
        caFile: caFile(),
        prefix,
        hostId: 'host_tls_refused',
        logger,
      });
      agent.start(() => Promise.resolve());
      try {
        const refused = await waitFor('the refusal', () =>
          Promise.resolve(logger.lines.find((l) => l.message.startsWith('refused the broker'))),
        );
        expect(refused.level).toBe('error');
        expect(refused.message).toMatch(says);
        expect(refused.details).toMatchObject({ code: expect.stringMatching(/CERT|SIGN/) });
        // Its password is in no line it logged.
        const password = new URL(amqpsUrl).password;
        if (password) expect(JSON.stringify(logger.lines)).not.toContain(`:${password}@`);
        expect(logger.lines.some((l) => l.message === 'connected to the broker')).toBe(false);
      } finally {
        await agent.close();
      }
    },
    60_000,
  );
});
