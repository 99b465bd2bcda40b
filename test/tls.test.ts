import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../src/cli/api-client.js';
import { harnessFetch, trustHarnessCa } from '../src/dev/harness-trust.js';
import { LocalAgent } from '../src/dev/local-agent.js';
import { LocalServer } from '../src/dev/local-server.js';
import { releasePort, reservePort } from '../src/dev/port-allocator.js';
import { stopServices } from '../src/dev/stop-services.js';
import {
  type CertifiedKey,
  issueServerCertificate,
  makeCertificateAuthority,
} from '../src/tls/certificate-authority.js';
import { encodeJoinString } from '../src/tls/join-string.js';
import { caFingerprint, splitPemCertificates } from '../src/tls/pem.js';
import { Cluster } from './helpers/cluster.js';
import { envAppTree, runningEnv } from './helpers/env-app.js';
import { runFerry } from './helpers/ferry-process.js';
import { RecordingProxy } from './helpers/recording-proxy.js';
import { makeTree } from './helpers/source-tree.js';

/** Cleanups of the test under way, run after it whatever happened. */
let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

/** Waits until `probe` answers something, polling; fails with `what` after `ms`. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The certificate chain a new TLS connection to `port` is presented, checked against `ca`. */
function presented(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca }, () => {
      const cert = new X509Certificate(socket.getPeerCertificate().raw);
      socket.destroy();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

/** How many times an agent's WebSocket has connected, from its log. */
function connections(agent: LocalAgent): number {
  return agent
    .output()
    .split('\n')
    .filter((line) => line.includes('"connected to the server"')).length;
}

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('an agent enrolled with a join string', () => {
  it('refuses a server with another CA on the same address, naming both fingerprints, and sends it nothing', async () => {
    const port = await reservePort();
    cleanups.push(() => Promise.resolve(releasePort(port)));
    const real = await LocalServer.start({ port });
    const api = new ApiClient(real.url, real.adminToken, real.trust);
    const made = await api.createToken({ role: 'agent', env: 'qa' });
    expect(made.caFingerprint).toBe(real.caFingerprint);
    const join = encodeJoinString({ server: real.url, token: made.token, ca: made.caFingerprint! });
    await real.stop();

    // Another server on the same address, with a certificate for it from another CA.
    const other = await makeCertificateAuthority({ name: 'Impostor CA', days: 1 });
    const leaf = await issueServerCertificate(other, ['localhost', '127.0.0.1'], 3_600_000);
    let requests = 0;
    const impostor = https.createServer(
      { cert: leaf.cert + other.cert, key: leaf.key },
      (_q, a) => {
        requests++;
        a.end('{}');
      },
    );
    await new Promise<void>((resolve) => impostor.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => impostor.close(resolve)));

    const root = await tempDir('ferry-tls-agent-');
    const agent = await LocalAgent.spawn({
      server: real.url,
      admin: api,
      name: 'qa-1',
      root,
      env: 'qa',
      roles: ['web'],
      join,
    });
    const exit = await agent.exited;
    expect(exit.code).not.toBe(0);
    const output = agent.output();
    expect(output).toContain('[E_SERVER_UNTRUSTED]');
    expect(output).toContain(`expected a CA with fingerprint ${made.caFingerprint}`);
    expect(output).toContain(
      `it presented ${caFingerprint(leaf.cert)}, ${caFingerprint(other.cert)}`,
    );
    // No request (so no token) reached it, and the agent kept nothing of it.
    expect(requests).toBe(0);
    await expect(stat(path.join(root, 'agent', 'identity.json'))).rejects.toThrow();
    await expect(stat(path.join(root, 'agent', 'server-ca.pem'))).rejects.toThrow();
  });
});

describe('--insecure-http', () => {
  it('serves plain HTTP only when asked, warning at start and in `ferry hosts`', async () => {
    const server = await LocalServer.start({ args: ['--insecure-http'] });
    cleanups.push(() => server.stop());
    expect(server.url).toMatch(/^http:\/\//);
    expect(server.output()).toContain('WARNING: --insecure-http: serving plain HTTP');
    const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken };
    const hosts = await runFerry(['hosts'], { env });
    expect(hosts.code, hosts.stderr).toBe(0);
    expect(hosts.stderr).toContain('WARNING: this server speaks plain HTTP');

    // Over HTTPS, no such warning.
    const secure = await LocalServer.start();
    cleanups.push(() => secure.stop());
    expect(secure.url).toMatch(/^https:\/\//);
    expect(secure.output()).not.toContain('insecure');
    const quiet = await runFerry(['hosts'], {
      env: { FERRY_SERVER: secure.url, FERRY_TOKEN: secure.adminToken },
    });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.stderr).not.toContain('WARNING');
  });
});

describe("the server's CA near its end", () => {
  it('is warned of at start, in `ferry hosts`, and its end is in GET /health and the host list', async () => {
    const server = await LocalServer.start({ config: 'tls: { caDays: 30 }\n' });
    cleanups.push(() => server.stop());
    const caEnds = new Date(new X509Certificate(server.caPem!).validTo).toISOString();
    const day = caEnds.slice(0, 10);
    expect(server.output()).toContain(`WARNING: the server's CA (${server.caFile}) ends on ${day}`);
    const health = (await (await harnessFetch(`${server.url}/api/v1/health`)).json()) as {
      caExpiresAt?: string;
    };
    expect(health.caExpiresAt).toBe(caEnds);
    const env = { FERRY_SERVER: server.url, FERRY_TOKEN: server.adminToken };
    const hosts = await runFerry(['hosts'], { env });
    expect(hosts.code, hosts.stderr).toBe(0);
    expect(hosts.stderr).toMatch(
      new RegExp(`WARNING: the server's CA ends on ${day} \\((29|30) days left\\)`),
    );
    const api = new ApiClient(server.url, server.adminToken, server.trust);
    expect((await api.hostList()).caExpiresAt).toBe(caEnds);
  });
});

describe("an operator's certificate", () => {
  it('is read again on SIGHUP and served to new connections, while the agent stays connected', async () => {
    const work = await tempDir('ferry-tls-operator-');
    const ca = await makeCertificateAuthority({ name: 'Operator CA', days: 30 });
    trustHarnessCa(ca.cert);
    const certFile = path.join(work, 'server.pem');
    const keyFile = path.join(work, 'server-key.pem');
    const install = async (made: CertifiedKey) => {
      await writeFile(keyFile, made.key, { mode: 0o600 });
      await writeFile(certFile, made.cert + ca.cert);
    };
    const first = await issueServerCertificate(ca, ['127.0.0.1', 'localhost'], 86_400_000);
    await install(first);
    const cluster = await Cluster.start({
      serverArgs: ['--tls-cert', certFile, '--tls-key', keyFile],
    });
    cleanups.push(() => cluster.close());
    const port = cluster.server.port;
    expect((await presented(port, ca.cert)).serialNumber).toBe(
      new X509Certificate(first.cert).serialNumber,
    );
    // The join string pins the operator's own CA, the last of its chain.
    expect((await cluster.api().createToken({ role: 'agent', env: 'qa' })).caFingerprint).toBe(
      caFingerprint(ca.cert),
    );
    const host = await cluster.addHost('qa-1', 'qa');
    const agent = host.agent!;
    expect(connections(agent)).toBe(1);

    const second = await issueServerCertificate(ca, ['127.0.0.1', 'localhost'], 86_400_000);
    await install(second);
    cluster.server.child.kill('SIGHUP');
    const served = await until('the new certificate', async () => {
      const cert = await presented(port, ca.cert);
      return cert.serialNumber === new X509Certificate(second.cert).serialNumber ? cert : undefined;
    });
    expect(served.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(cluster.server.output()).toContain('SIGHUP: TLS certificate reloaded');
    // The agent's WebSocket was not dropped: one connection, still listed connected.
    expect(connections(agent)).toBe(1);
    const listed = (await cluster.api().hosts()).find((h) => h.name === 'qa-1');
    expect(listed?.connected).toBe(true);
  });
});

describe("the server's own certificate", () => {
  it('is renewed before it ends, from the same CA, without dropping the agent', async () => {
    // Valid for about 14.4 minutes, renewed with less than 14.26 left: about 9 s after
    // each issue (renewal must start before the end, so it is less than the lifetime).
    const cluster = await Cluster.start({
      config: 'tls: { serverCertDays: 0.01, renewBeforeDays: 0.0099, checkSeconds: 1 }\n',
    });
    cleanups.push(() => cluster.close());
    const caPem = cluster.server.caPem!;
    const port = cluster.server.port;
    const host = await cluster.addHost('qa-1', 'qa');
    const firstSerial = (await presented(port, caPem)).serialNumber;
    const renewed = await until('a renewed certificate', async () => {
      const cert = await presented(port, caPem);
      return cert.serialNumber !== firstSerial ? cert : undefined;
    });
    expect(renewed.checkIssued(new X509Certificate(caPem))).toBe(true);
    expect(Date.parse(renewed.validTo) - Date.now()).toBeLessThan(0.011 * 86_400_000);
    // Kept on disk for the next start, this user's alone; the CA is the one agents pinned.
    const folder = path.join(cluster.server.dataDir, 'tls');
    for (const file of ['ca.pem', 'ca-key.pem', 'server.pem', 'server-key.pem']) {
      expect((await stat(path.join(folder, file))).mode & 0o777, file).toBe(0o600);
    }
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    const onDisk = splitPemCertificates(await readFile(path.join(folder, 'server.pem'), 'utf8'));
    expect(caFingerprint(onDisk[1]!)).toBe(caFingerprint(caPem));
    expect(await readFile(path.join(host.root, 'agent', 'server-ca.pem'), 'utf8')).toBe(caPem);
    expect(connections(host.agent!)).toBe(1);
    expect((await cluster.api().hosts())[0]?.connected).toBe(true);
  });
  it('starts after a renewal cut short between its key and its certificate, and after a restored CA, issuing a fresh one and saying why', async () => {
    const data = await tempDir('ferry-tls-torn-');
    const first = await LocalServer.start({ data });
    const folder = path.join(data, 'tls');
    const ca = { cert: first.caPem!, key: await readFile(path.join(folder, 'ca-key.pem'), 'utf8') };
    await first.stop({ keepData: true });
    // The crash: the new key is in place, the certificate is still the old one.
    const torn = await issueServerCertificate(ca, ['localhost'], 86_400_000);
    await writeFile(path.join(folder, 'server-key.pem'), torn.key, { mode: 0o600 });

    const second = await LocalServer.start({ data });
    cleanups.push(() => second.stop({ keepData: true }));
    expect(second.output()).toContain(
      `${path.join(folder, 'server-key.pem')} is not the key of the certificate in ${path.join(folder, 'server.pem')}`,
    );
    expect((await presented(second.port, ca.cert)).checkIssued(new X509Certificate(ca.cert))).toBe(
      true,
    );
    await second.stop({ keepData: true });

    // A CA restored from elsewhere (both files): the certificate is issued again from it.
    const restored = await makeCertificateAuthority({ name: 'Restored CA', days: 3650 });
    await writeFile(path.join(folder, 'ca-key.pem'), restored.key, { mode: 0o600 });
    await writeFile(path.join(folder, 'ca.pem'), restored.cert, { mode: 0o600 });
    const third = await LocalServer.start({ data });
    cleanups.push(() => third.stop({ keepData: true }));
    expect(third.output()).toContain('was not issued by the CA in');
    expect(third.caFingerprint).toBe(caFingerprint(restored.cert));
    const served = await presented(third.port, restored.cert);
    expect(served.checkIssued(new X509Certificate(restored.cert))).toBe(true);
  });
});

describe("an operator's certificate whose key is not its own", () => {
  it('stops the start with an error naming both files', async () => {
    const work = await tempDir('ferry-tls-mismatch-');
    const ca = await makeCertificateAuthority({ name: 'Operator CA', days: 30 });
    const one = await issueServerCertificate(ca, ['127.0.0.1'], 86_400_000);
    const two = await issueServerCertificate(ca, ['127.0.0.1'], 86_400_000);
    const certFile = path.join(work, 'server.pem');
    const keyFile = path.join(work, 'server-key.pem');
    await writeFile(certFile, one.cert + ca.cert);
    await writeFile(keyFile, two.key, { mode: 0o600 });
    const failed = await LocalServer.start({ args: ['--tls-cert', certFile, '--tls-key', keyFile] })
      .then(async (server) => {
        await server.stop();
        return 'started';
      })
      .catch((err: unknown) => (err as Error).message);
    expect(failed).toContain('E_CONFIG_INVALID');
    expect(failed).toContain(`${keyFile} is not the key of the certificate in ${certFile}`);
  });
});

describe('what crosses the wire', () => {
  it('holds no token, secret value or bundle byte in clear, across a push, a deploy and an install', async () => {
    const cluster = await Cluster.start();
    cleanups.push(() => cluster.close());
    const proxy = await RecordingProxy.start(cluster.server.port);
    cleanups.push(() => proxy.close());
    const through = `https://127.0.0.1:${proxy.port}`;
    const secret = `s3cr3t-${Date.now()}-never-in-clear`;

    // The agent enrols and works through the proxy, with a join string.
    const made = await cluster.api().createToken({ role: 'agent', env: 'qa' });
    const join = encodeJoinString({ server: through, token: made.token, ca: made.caFingerprint! });
    const root = path.join(cluster.work, 'hosts', 'wire-1');
    const port = await reservePort();
    cleanups.push(() => Promise.resolve(releasePort(port)));
    const agent = await LocalAgent.start({
      server: through,
      admin: cluster.api(),
      name: 'wire-1',
      root,
      env: 'qa',
      roles: ['web'],
      join,
      vars: { PORT: String(port) },
    });
    cleanups.push(() => stopServices(root));
    cleanups.push(() => agent.stop());

    // The CLI too: a secret variable, then a push that qa deploys by itself.
    const cli = { FERRY_SERVER: through };
    const set = await cluster.ferry(['vars', 'set', 'WORD', '--env', 'qa', '--secret'], cli, {
      input: secret,
    });
    expect(set.code, set.stderr).toBe(0);
    const dir = await makeTree(
      envAppTree('paint', { env: { WORD: '${WORD}' } }),
      path.join(cluster.work, 'src', 'paint'),
    );
    const pushed = await cluster.ferry(['push', dir], cli);
    expect(pushed.code, pushed.stderr).toBe(0);
    // Installed and running with the secret: the job came through the proxy.
    await until(
      'the service running with the secret',
      async () => ((await runningEnv(root, 'paint'))?.WORD === secret ? true : undefined),
      60_000,
    );

    const bundle = Buffer.from(
      await (
        await harnessFetch(`${cluster.server.url}/api/v1/apps/paint/bundles/1/download`, {
          headers: { authorization: `Bearer ${cluster.server.adminToken}` },
        })
      ).arrayBuffer(),
    );
    const captured = proxy.captured();
    // The bundle went through (download) and much else: the capture is not empty.
    expect(captured.length).toBeGreaterThan(bundle.length);
    const identity = JSON.parse(
      await readFile(path.join(root, 'agent', 'identity.json'), 'utf8'),
    ) as { token: string };
    const secrets = {
      secret,
      adminToken: cluster.server.adminToken,
      enrolmentToken: made.token,
      hostToken: identity.token,
    };
    for (const [name, value] of Object.entries(secrets)) {
      expect(captured.includes(Buffer.from(value)), name).toBe(false);
    }
    for (let offset = 0; offset + 24 <= bundle.length; offset += Math.max(24, bundle.length >> 5)) {
      const slice = bundle.subarray(offset, offset + 24);
      expect(captured.includes(slice), `bundle bytes at ${offset}`).toBe(false);
    }
  });

  it('holds them in clear with --insecure-http: the capture sees what TLS hides', async () => {
    const server = await LocalServer.start({ args: ['--insecure-http'] });
    cleanups.push(() => server.stop());
    const proxy = await RecordingProxy.start(server.port);
    cleanups.push(() => proxy.close());
    const hosts = await runFerry(['hosts'], {
      env: { FERRY_SERVER: `http://127.0.0.1:${proxy.port}`, FERRY_TOKEN: server.adminToken },
    });
    expect(hosts.code, hosts.stderr).toBe(0);
    expect(proxy.captured().includes(Buffer.from(server.adminToken))).toBe(true);
  });
});

describe('ferry login --join', () => {
  it("pins the server's CA from the join string, and refuses a server that does not hold it", async () => {
    const cluster = await Cluster.start();
    cleanups.push(() => cluster.close());
    const made = await cluster.ferry(['tokens', 'create', '--role', 'deployer', '--join']);
    expect(made.code, made.stderr).toBe(0);
    const join = made.stdout.trim();
    expect(join).toMatch(/^ferry-join-v1\./);
    // Nothing of the harness's trust: only what the join string says.
    const config = await tempDir('ferry-tls-login-');
    const bare = { FERRY_SERVER: '', FERRY_TOKEN: '', FERRY_CA_FILE: '', FERRY_CONFIG_DIR: config };
    const login = await runFerry(['login', '--join', '-'], { env: bare, input: join });
    expect(login.code, login.stderr).toBe(0);
    expect(login.stdout).toContain(`Its CA ${cluster.server.caFingerprint} is pinned`);
    const saved = JSON.parse(await readFile(path.join(config, 'credentials.json'), 'utf8')) as {
      server: string;
      ca: string;
    };
    expect(saved.server).toBe(cluster.server.url);
    expect(saved.ca).toBe(cluster.server.caPem);
    expect((await stat(path.join(config, 'credentials.json'))).mode & 0o777).toBe(0o600);
    const apps = await runFerry(['apps'], { env: bare });
    expect(apps.code, apps.stderr).toBe(0);

    // A join string naming another CA: refused before the token is sent.
    const other = await makeCertificateAuthority({ name: 'Another CA', days: 1 });
    const wrong = encodeJoinString({
      server: cluster.server.url,
      token: cluster.server.adminToken,
      ca: caFingerprint(other.cert),
    });
    const refused = await runFerry(['login', '--join', '-'], {
      env: { ...bare, FERRY_CONFIG_DIR: await tempDir('ferry-tls-login-') },
      input: wrong,
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[E_SERVER_UNTRUSTED]');
    expect(refused.stderr).toContain(`expected a CA with fingerprint ${caFingerprint(other.cert)}`);
    expect(refused.stderr).toContain(cluster.server.caFingerprint!);
    // Without a pinned CA, the system's store does not know the server's own CA.
    const unpinned = await runFerry(['apps'], {
      env: {
        ...bare,
        FERRY_SERVER: cluster.server.url,
        FERRY_TOKEN: cluster.server.adminToken,
        FERRY_CONFIG_DIR: await tempDir('ferry-tls-login-'),
      },
    });
    expect(unpinned.code).toBe(1);
    expect(unpinned.stderr).toContain('[E_SERVER_UNTRUSTED]');
    expect(unpinned.stderr).toContain('self-signed certificate in certificate chain');
  });
});
