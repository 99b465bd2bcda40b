import { X509Certificate, createPrivateKey } from 'node:crypto';
import type * as FsPromises from 'node:fs/promises';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  issueServerCertificate,
  makeCertificateAuthority,
} from '../../tls/certificate-authority.js';
import { caFingerprint, splitPemCertificates } from '../../tls/pem.js';
import { serverConfigSchema } from '../server-config.js';
import { ServerTls, serverNames, tlsFolder } from './server-tls.js';

/** The fsyncs and renames made through node:fs/promises, in order (a spy: each still runs). */
const disk = vi.hoisted(() => ({
  calls: [] as string[][],
  /** A fault to inject: the fsync of a path this matches fails (EIO). */
  failSync: undefined as RegExp | undefined,
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof FsPromises>();
  return {
    ...fs,
    open: async (...args: Parameters<typeof fs.open>) => {
      const handle = await fs.open(...args);
      const sync = handle.sync.bind(handle);
      handle.sync = () => {
        disk.calls.push(['sync', String(args[0])]);
        if (disk.failSync?.test(String(args[0]))) {
          return Promise.reject(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
        }
        return sync();
      };
      return handle;
    },
    rename: (from: string, to: string) => {
      disk.calls.push(['rename', from, to]);
      return fs.rename(from, to);
    },
  };
});

let dir: string;
beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-server-tls-'))));
afterEach(async () => {
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
});

function configOf(tls: object = {}) {
  return serverConfigSchema.parse({ data: dir, tls });
}

/** Loads the server's TLS, keeping what it says at start. */
async function load(config = configOf()) {
  const said: string[] = [];
  const serverTls = await ServerTls.load(config, (line) => said.push(line));
  return { serverTls, said };
}

/** Whether a served pair is whole: the key is the first certificate's, which `caPem` issued. */
function whole(served: { cert: string; key: string }, caPem: string) {
  const [leaf, chainCa] = splitPemCertificates(served.cert);
  const cert = new X509Certificate(leaf!);
  const ca = new X509Certificate(caPem);
  return {
    keyMatches: cert.checkPrivateKey(createPrivateKey(served.key)),
    issuedByCa: cert.checkIssued(ca) && cert.verify(ca.publicKey),
    chainEndsWithCa: chainCa === caPem,
  };
}

const file = (name: string) => path.join(tlsFolder({ data: dir }), name);

/** Whether a TLS client trusting only `ca` (PEM) accepts `served` for `host`; else why not. */
async function handshake(
  served: { cert: string; key: string },
  ca: string,
  host: string,
): Promise<string> {
  const listener = tls.createServer(served, (socket) => socket.end());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  try {
    return await new Promise<string>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', servername: host, port, ca }, () => {
        socket.destroy();
        resolve('trusted');
      });
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  } finally {
    listener.close();
  }
}
const WHOLE = { keyMatches: true, issuedByCa: true, chainEndsWithCa: true };

describe("the server's own certificate at start", () => {
  it('is made whole on the first start and the same one is served after', async () => {
    const first = await load();
    const caPem = await readFile(file('ca.pem'), 'utf8');
    expect(whole(first.serverTls.current(), caPem)).toEqual(WHOLE);
    const again = await load();
    expect(again.serverTls.current()).toEqual(first.serverTls.current());
    expect(again.said).toEqual([]);
    // Nothing left behind by the writes.
    expect((await readdir(tlsFolder({ data: dir }))).sort()).toEqual([
      'ca-key.pem',
      'ca.pem',
      'server-key.pem',
      'server.pem',
    ]);
  });

  it('is issued again when a renewal was cut short between the key and the certificate', async () => {
    const first = await load();
    const caPem = await readFile(file('ca.pem'), 'utf8');
    // The crash: the new key renamed into place, the certificate still the old one.
    const ca = { cert: caPem, key: await readFile(file('ca-key.pem'), 'utf8') };
    const torn = await issueServerCertificate(ca, ['localhost'], 86_400_000);
    await writeFile(file('server-key.pem'), torn.key, { mode: 0o600 });

    const { serverTls, said } = await load();
    expect(whole(serverTls.current(), caPem)).toEqual(WHOLE);
    expect(serverTls.current().cert).not.toBe(first.serverTls.current().cert);
    expect(said.join('\n')).toContain(
      `${file('server-key.pem')} is not the key of the certificate in ${file('server.pem')}`,
    );
    // What it serves is on disk for the next start.
    expect(await readFile(file('server.pem'), 'utf8')).toBe(serverTls.current().cert);
    expect(await readFile(file('server-key.pem'), 'utf8')).toBe(serverTls.current().key);
  });

  it('is issued again from a replaced (restored) CA, saying why', async () => {
    await load();
    const restored = await makeCertificateAuthority({ name: 'Restored CA', days: 3650 });
    await writeFile(file('ca-key.pem'), restored.key, { mode: 0o600 });
    await writeFile(file('ca.pem'), restored.cert, { mode: 0o600 });

    const { serverTls, said } = await load();
    expect(whole(serverTls.current(), restored.cert)).toEqual(WHOLE);
    expect(serverTls.caCertificate()).toBe(restored.cert);
    expect(said.join('\n')).toContain(
      `the certificate in ${file('server.pem')} was not issued by the CA in ${file('ca.pem')}`,
    );
  });

  it('is kept when ca.pem is the same CA restored with CRLF line endings', async () => {
    const first = await load();
    const caPem = await readFile(file('ca.pem'), 'utf8');
    await writeFile(file('ca.pem'), caPem.replace(/\n/g, '\r\n'), { mode: 0o600 });
    for (let start = 0; start < 2; start++) {
      const { serverTls, said } = await load();
      expect(said).toEqual([]);
      expect(serverTls.current()).toEqual(first.serverTls.current());
    }
  });

  it('is issued again when it has ended, or cannot be read, saying why', async () => {
    await load();
    const ca = {
      cert: await readFile(file('ca.pem'), 'utf8'),
      key: await readFile(file('ca-key.pem'), 'utf8'),
    };
    const ended = await issueServerCertificate(ca, ['localhost'], -30_000);
    await writeFile(file('server-key.pem'), ended.key, { mode: 0o600 });
    await writeFile(file('server.pem'), ended.cert + ca.cert, { mode: 0o600 });
    const afterEnd = await load();
    expect(whole(afterEnd.serverTls.current(), ca.cert)).toEqual(WHOLE);
    expect(afterEnd.said.join('\n')).toMatch(/the certificate in .*server\.pem ended on /);

    await writeFile(file('server.pem'), 'not a certificate\n', { mode: 0o600 });
    const afterGarbage = await load();
    expect(whole(afterGarbage.serverTls.current(), ca.cert)).toEqual(WHOLE);
    expect(afterGarbage.said.join('\n')).toContain(
      `${file('server.pem')} holds no certificate that can be read`,
    );
  });

  it('refuses to start when the CA key is not the key of ca.pem, naming both files', async () => {
    await load();
    const other = await makeCertificateAuthority({ name: 'Other CA', days: 30 });
    await writeFile(file('ca-key.pem'), other.key, { mode: 0o600 });
    const error = (await load().catch((err: unknown) => err)) as Error & { code?: string };
    expect(error.code).toBe('E_CONFIG_INVALID');
    expect(error.message).toContain(
      `${file('ca-key.pem')} is not the key of the CA certificate in ${file('ca.pem')}`,
    );
  });

  it('refuses to start when ca.pem is there without its key, rather than replace the CA agents pinned', async () => {
    await load();
    const caPem = await readFile(file('ca.pem'), 'utf8');
    await rm(file('ca-key.pem'));
    const error = (await load().catch((err: unknown) => err)) as Error & { code?: string };
    expect(error.code).toBe('E_CONFIG_INVALID');
    expect(error.message).toContain(`${file('ca.pem')} is there but ${file('ca-key.pem')} is not`);
    expect(await readFile(file('ca.pem'), 'utf8')).toBe(caPem);
  });
});

describe("the files' writes", () => {
  it('flush each file before its rename and the folder after it (CA key and certificate too)', async () => {
    disk.calls = [];
    await load();
    const folder = tlsFolder({ data: dir });
    for (const name of ['ca-key.pem', 'ca.pem', 'server-key.pem', 'server.pem']) {
      const renamed = disk.calls.findIndex(([op, , to]) => op === 'rename' && to === file(name));
      expect(renamed, name).toBeGreaterThanOrEqual(0);
      const partial = disk.calls[renamed]![1]!;
      const flushed = disk.calls.findIndex(([op, what]) => op === 'sync' && what === partial);
      expect(
        flushed,
        `${name}: the temporary file flushed before the rename`,
      ).toBeGreaterThanOrEqual(0);
      expect(flushed).toBeLessThan(renamed);
      const folderFlushed = disk.calls.findIndex(
        ([op, what], at) => at > renamed && op === 'sync' && what === folder,
      );
      expect(folderFlushed, `${name}: the folder flushed after the rename`).toBeGreaterThan(
        renamed,
      );
    }
  });

  it('rename nothing into place when the flush fails: no key on disk it is not sure of', async () => {
    disk.failSync = /ca-key\.pem\..*\.tmp$/;
    try {
      const error = (await load().catch((err: unknown) => err)) as Error & { code?: string };
      expect(error.code).toBe('EIO');
    } finally {
      disk.failSync = undefined;
    }
    expect(await readdir(tlsFolder({ data: dir }))).toEqual([]);
  });
});

describe("the names in the server's own certificate", () => {
  it('are the defaults and the configured ones, which add to them (localhost stays)', () => {
    const config = configOf();
    config.tls.names = ['ferry.example.com', '10.0.0.5'];
    const names = serverNames(config);
    expect(names).toEqual(expect.arrayContaining(['localhost', '127.0.0.1', '::1']));
    expect(names.slice(-2)).toEqual(['ferry.example.com', '10.0.0.5']);
  });
});

describe('a CA key without its certificate (ca.pem lost)', () => {
  it("is issued again with the name in server.pem, not the host's new name", async () => {
    await load();
    const oldCa = await readFile(file('ca.pem'), 'utf8');
    await rm(file('ca.pem'));
    const said: string[] = [];
    const serverTls = await ServerTls.load(configOf(), (line) => said.push(line), 'renamed-pod');
    const newCa = await readFile(file('ca.pem'), 'utf8');
    expect(new X509Certificate(newCa).subject).toBe(new X509Certificate(oldCa).subject);
    expect(new X509Certificate(newCa).subject).not.toContain('renamed-pod');
    expect(said.join('\n')).toContain('as in server.pem');
    // An agent enrolled before trusts only the old CA certificate: it accepts the new server certificate.
    expect(await handshake(serverTls.current(), oldCa, 'localhost')).toBe('trusted');
  });

  it('keeps the key, issues a CA certificate from it, and enrolled agents still trust the server', async () => {
    await load();
    const caKey = await readFile(file('ca-key.pem'), 'utf8');
    const oldCa = await readFile(file('ca.pem'), 'utf8');
    await rm(file('ca.pem'));
    await rm(file('server.pem'));
    await rm(file('server-key.pem'));

    const { serverTls, said } = await load();
    expect(await readFile(file('ca-key.pem'), 'utf8')).toBe(caKey);
    const newCa = await readFile(file('ca.pem'), 'utf8');
    expect(newCa).not.toBe(oldCa);
    expect(new X509Certificate(newCa).checkPrivateKey(createPrivateKey(caKey))).toBe(true);
    // The pin agents hold is the old CA's fingerprint: it still names the CA served.
    expect(serverTls.caFingerprint()).toBe(caFingerprint(oldCa));
    expect(caFingerprint(newCa)).toBe(caFingerprint(oldCa));
    expect(said.join('\n')).toContain(
      `${file('ca.pem')} was missing: issued a new CA certificate from the key in ${file('ca-key.pem')}`,
    );
    expect(said.join('\n')).toContain(`fingerprint unchanged (${caFingerprint(oldCa)})`);
    // An agent enrolled before trusts only the old CA certificate: it accepts the new server certificate.
    expect(await handshake(serverTls.current(), oldCa, 'localhost')).toBe('trusted');
  });

  it('refuses to start, keeping the file, when the key left cannot issue a CA certificate', async () => {
    await mkdir(tlsFolder({ data: dir }), { recursive: true });
    await writeFile(file('ca-key.pem'), 'not a key\n', { mode: 0o600 });
    const error = (await load().catch((err: unknown) => err)) as Error & { code?: string };
    expect(error.code).toBe('E_CONFIG_INVALID');
    expect(error.message).toContain(
      `${file('ca.pem')} is missing and ${file('ca-key.pem')} is not an ECDSA P-256 CA key`,
    );
    expect(await readFile(file('ca-key.pem'), 'utf8')).toBe('not a key\n');
  });
});

describe("an operator's certificate at start", () => {
  it('whose key is not its own is a start error naming both files', async () => {
    const ca = await makeCertificateAuthority({ name: 'Operator CA', days: 30 });
    const one = await issueServerCertificate(ca, ['localhost'], 86_400_000);
    const two = await issueServerCertificate(ca, ['localhost'], 86_400_000);
    const certFile = path.join(dir, 'op.pem');
    const keyFile = path.join(dir, 'op-key.pem');
    await writeFile(certFile, one.cert + ca.cert);
    await writeFile(keyFile, two.key, { mode: 0o600 });
    const error = (await load(configOf({ certFile, keyFile })).catch((err: unknown) => err)) as
      (Error & { code?: string }) | undefined;
    expect(error?.code).toBe('E_CONFIG_INVALID');
    expect(error?.message).toContain(`${keyFile} is not the key of the certificate in ${certFile}`);
  });
});

/** A TLS server that records the certificates it is given, and a log that keeps every line. */
function attached(serverTls: ServerTls) {
  const swapped: string[] = [];
  const lines: { level: string; message: string; fields: object }[] = [];
  const record = (level: string) => (fields: object, message: string) =>
    lines.push({ level, message, fields });
  const server = {
    setSecureContext: (context: { cert: string }) => swapped.push(context.cert),
  };
  serverTls.attach(server as never, {
    info: record('info'),
    warn: record('warn'),
    error: record('error'),
  });
  return { swapped, lines };
}

describe('a reload (SIGHUP) during a renewal', () => {
  it('waits for the renewal: one new certificate, served and on disk as one pair', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const config = configOf({ checkSeconds: 60 });
    const { serverTls } = await load(config);
    const { swapped, lines } = attached(serverTls);
    // Now due: a name was added to the configuration.
    config.tls.names = [...serverNames(config), 'new-name.example'];
    // The check starts a renewal, and SIGHUP comes while it runs.
    vi.advanceTimersByTime(60_000);
    await serverTls.reload();
    await serverTls.close();

    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(swapped).toHaveLength(1);
    expect(lines.filter((l) => l.message === 'server certificate renewed')).toHaveLength(1);
    const caPem = await readFile(file('ca.pem'), 'utf8');
    expect(serverTls.current().cert).toBe(swapped[0]);
    expect(whole(serverTls.current(), caPem)).toEqual(WHOLE);
    expect(new X509Certificate(serverTls.current().cert).checkHost('new-name.example')).toBe(
      'new-name.example',
    );
    expect(await readFile(file('server.pem'), 'utf8')).toBe(serverTls.current().cert);
    expect(await readFile(file('server-key.pem'), 'utf8')).toBe(serverTls.current().key);
  });
});

describe("the CA's end", () => {
  it('is reported, and warned of at start and at each check when less than 90 days are left', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { serverTls } = await load(configOf({ caDays: 30, checkSeconds: 60 }));
    const caEnds = new X509Certificate(serverTls.caCertificate()!).validTo;
    expect(serverTls.caExpiresAt()).toBe(new Date(caEnds).toISOString());
    const warning = serverTls.caWarning();
    expect(warning).toContain(`WARNING: the server's CA (${file('ca.pem')}) ends on `);
    expect(warning).toMatch(/\((29|30) days left\)/);

    const { lines, swapped } = attached(serverTls);
    vi.advanceTimersByTime(60_000);
    vi.advanceTimersByTime(60_000);
    await serverTls.close();
    const warned = lines.filter((l) => l.level === 'warn');
    expect(warned.map((l) => l.message)).toEqual([warning, warning]);
    expect(warned[0]?.fields).toMatchObject({ caExpiresAt: serverTls.caExpiresAt() });
    // Its certificate already ends with the CA: not issued again at each check.
    expect(Date.parse(new X509Certificate(serverTls.current().cert).validTo)).toBe(
      Date.parse(caEnds),
    );
    expect(swapped).toEqual([]);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('is not warned of with years left', async () => {
    const { serverTls } = await load();
    expect(serverTls.caWarning()).toBeUndefined();
    expect(Date.parse(serverTls.caExpiresAt()!) - Date.now()).toBeGreaterThan(9 * 365 * 86_400_000);
  });

  it("is the end of an operator's private CA, and unknown for a chain to a public one", async () => {
    const ca = await makeCertificateAuthority({ name: 'Operator CA', days: 20 });
    const leaf = await issueServerCertificate(ca, ['localhost'], 86_400_000);
    const certFile = path.join(dir, 'op.pem');
    const keyFile = path.join(dir, 'op-key.pem');
    await writeFile(keyFile, leaf.key, { mode: 0o600 });
    await writeFile(certFile, leaf.cert + ca.cert);
    const { serverTls } = await load(configOf({ certFile, keyFile }));
    expect(serverTls.caExpiresAt()).toBe(
      new Date(new X509Certificate(ca.cert).validTo).toISOString(),
    );
    expect(serverTls.caWarning()).toContain(
      `the CA at the end of the chain in ${certFile} ends on`,
    );

    // Without the CA in the file, the chain ends below a CA clients find in their store.
    await writeFile(certFile, leaf.cert);
    const bare = await load(configOf({ certFile, keyFile }));
    expect(bare.serverTls.caExpiresAt()).toBeNull();
    expect(bare.serverTls.caWarning()).toBeUndefined();
  });
});
