import { X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { FerryError } from '../../protocol/errors.js';
import {
  type CertifiedKey,
  issueServerCertificate,
  makeCertificateAuthority,
} from '../../tls/certificate-authority.js';
import { caFingerprint, splitPemCertificates } from '../../tls/pem.js';
import type { ServerConfig } from '../server-config.js';

const DAY_MS = 24 * 3600 * 1000;

/** What the server says about its wire: to routes (tokens, hosts, health). */
export interface ServerWire {
  /** True when it serves plain HTTP (`--insecure-http`). */
  insecureHttp: boolean;
  /** The fingerprint of the CA that agents and the CLI pin (see `caFingerprint`), or null. */
  caFingerprint(): string | null;
}

/** Where the server keeps its own CA and certificate, under its data folder (0700, files 0600). */
export function tlsFolder(config: Pick<ServerConfig, 'data'>): string {
  return path.join(config.data, 'tls');
}

/** Somewhere to say what happened (renewed, reloaded) and what failed. */
export interface TlsLog {
  info(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/**
 * The server's certificate, kept current. Without an operator's certificate
 * the server is its own CA: on the first start it makes the CA (ECDSA P-256)
 * and a server certificate for its names, in `<data>/tls/` (0600), and renews
 * the server certificate `renewBeforeDays` before it ends. With the operator's
 * (`tls.certFile`/`tls.keyFile`) it reads those, again on `reload()` (SIGHUP).
 * A new certificate is swapped in with `setSecureContext`: connections open
 * stay open, new ones get it.
 *
 * @example
 *   const serverTls = await ServerTls.load(config);
 *   Fastify({ https: serverTls.current() });
 *   serverTls.attach(app.server as tls.Server, app.log);
 */
export class ServerTls implements ServerWire {
  readonly insecureHttp = false;
  private server: tls.Server | undefined;
  private timer: NodeJS.Timeout | undefined;
  private log: TlsLog | undefined;
  private renewing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly config: Readonly<ServerConfig>,
    private served: CertifiedKey,
    /** The server's own CA, when it is its own; undefined with the operator's certificate. */
    private readonly ca: CertifiedKey | undefined,
    private pinnedCa: string | null,
  ) {}

  /** Loads (or on the first start makes) the certificate the server will serve. */
  static async load(config: Readonly<ServerConfig>): Promise<ServerTls> {
    if (config.tls.certFile !== undefined && config.tls.keyFile !== undefined) {
      const served = await readOperatorFiles(config.tls.certFile, config.tls.keyFile);
      return new ServerTls(config, served, undefined, operatorCaFingerprint(served.cert));
    }
    const folder = tlsFolder(config);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await chmod(folder, 0o700);
    const ca = await loadOrMakeCa(config, folder);
    const own = new ServerTls(config, { cert: '', key: '' }, ca, caFingerprint(ca.cert));
    const existing = await readPair(
      path.join(folder, 'server.pem'),
      path.join(folder, 'server-key.pem'),
    );
    if (existing && !own.needsRenewal(existing.cert)) own.served = existing;
    else await own.issue();
    return own;
  }

  /** The certificate (the chain: server, then CA) and key served now. */
  current(): { cert: string; key: string } {
    return { cert: this.served.cert, key: this.served.key };
  }

  /** The CA's fingerprint agents and the CLI pin; null for an operator's certificate from a public CA. */
  caFingerprint(): string | null {
    return this.pinnedCa;
  }

  /** The CA certificate (PEM) clients of this server trust, when the server is its own CA. */
  caCertificate(): string | undefined {
    return this.ca?.cert;
  }

  /** Serves through `server` from now on, renewing its own certificate in time. */
  attach(server: tls.Server, log: TlsLog): void {
    this.server = server;
    this.log = log;
    if (this.ca === undefined) return;
    this.timer = setInterval(() => {
      this.renewing = this.renewing
        .then(() => this.renewIfDue())
        .catch((err: unknown) => {
          log.error(
            { err },
            'renewing the server certificate failed; it is tried again at the next check',
          );
        });
    }, this.config.tls.checkSeconds * 1000);
    this.timer.unref();
  }

  /**
   * SIGHUP: reads the operator's certificate and key again (or renews the
   * server's own if due) and serves them to new connections; open ones stay.
   * A file that cannot be read or does not match leaves the current one served.
   */
  async reload(): Promise<void> {
    if (this.ca !== undefined) {
      await this.renewIfDue();
      return;
    }
    const { certFile, keyFile } = this.config.tls;
    const served = await readOperatorFiles(certFile!, keyFile!);
    this.swap(served);
    this.pinnedCa = operatorCaFingerprint(served.cert);
    this.log?.info(
      { certFile, notAfter: new X509Certificate(served.cert).validTo },
      'TLS certificate reloaded',
    );
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async renewIfDue(): Promise<void> {
    if (!this.needsRenewal(this.served.cert)) return;
    await this.issue();
    this.log?.info(
      { notAfter: new X509Certificate(this.served.cert).validTo },
      'server certificate renewed',
    );
  }

  /** Whether a certificate of ours ends within the margin, or does not carry every configured name. */
  private needsRenewal(certPem: string): boolean {
    const cert = new X509Certificate(certPem);
    const left = Date.parse(cert.validTo) - Date.now();
    if (left < this.config.tls.renewBeforeDays * DAY_MS) return true;
    return !serverNames(this.config).every((name) =>
      isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined,
    );
  }

  /** Issues a new server certificate from the CA, writes it, and serves it. */
  private async issue(): Promise<void> {
    const ca = this.ca!;
    const made = await issueServerCertificate(
      ca,
      serverNames(this.config),
      this.config.tls.serverCertDays * DAY_MS,
    );
    const served = { cert: made.cert + ca.cert, key: made.key };
    const folder = tlsFolder(this.config);
    await writePrivate(path.join(folder, 'server-key.pem'), served.key);
    await writePrivate(path.join(folder, 'server.pem'), served.cert);
    this.swap(served);
  }

  private swap(served: CertifiedKey): void {
    this.served = served;
    this.server?.setSecureContext({ cert: served.cert, key: served.key });
  }
}

/** The names in the server's own certificate: configured, or the defaults. */
export function serverNames(config: Pick<ServerConfig, 'host' | 'tls'>): string[] {
  if (config.tls.names) return [...config.tls.names];
  const names = ['localhost', '127.0.0.1', '::1', os.hostname()];
  if (config.host !== '0.0.0.0' && config.host !== '::') names.unshift(config.host);
  return [...new Set(names.map((n) => n.toLowerCase()))];
}

async function loadOrMakeCa(config: Readonly<ServerConfig>, folder: string): Promise<CertifiedKey> {
  const certFile = path.join(folder, 'ca.pem');
  const keyFile = path.join(folder, 'ca-key.pem');
  const existing = await readPair(certFile, keyFile);
  if (existing) return existing;
  const ca = await makeCertificateAuthority({
    name: `Ferry CA ${os.hostname()}`,
    days: config.tls.caDays,
  });
  // The key first: a CA certificate without its key would be kept and useless.
  await writePrivate(keyFile, ca.key);
  await writePrivate(certFile, ca.cert);
  return ca;
}

async function readPair(certFile: string, keyFile: string): Promise<CertifiedKey | undefined> {
  try {
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readOperatorFiles(certFile: string, keyFile: string): Promise<CertifiedKey> {
  let pair: CertifiedKey;
  try {
    pair = { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } catch (err) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `Cannot read the TLS certificate or key (${(err as Error).message})`,
      { certFile, keyFile },
    );
  }
  const first = splitPemCertificates(pair.cert)[0];
  if (!first) {
    throw new FerryError('E_CONFIG_INVALID', `${certFile} holds no PEM certificate`, { certFile });
  }
  try {
    const { createPrivateKey } = await import('node:crypto');
    if (!new X509Certificate(first).checkPrivateKey(createPrivateKey(pair.key))) {
      throw new Error('the key is not the certificate’s');
    }
  } catch (err) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `${keyFile} is not the key of the certificate in ${certFile} (${(err as Error).message})`,
      { certFile, keyFile },
    );
  }
  return pair;
}

/**
 * The CA of an operator's chain that clients can pin: its last certificate
 * when that one is self-signed (a private CA); none for a chain that ends
 * below a public root (clients trust their system store).
 */
function operatorCaFingerprint(chainPem: string): string | null {
  const chain = splitPemCertificates(chainPem);
  if (chain.length < 2) return null;
  const last = new X509Certificate(chain[chain.length - 1]!);
  return last.ca && last.checkIssued(last) ? caFingerprint(last) : null;
}

/** Writes a file only this user may read, renamed into place (never half-written). */
async function writePrivate(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text, { mode: 0o600 });
  await chmod(`${file}.tmp`, 0o600);
  await rename(`${file}.tmp`, file);
}
