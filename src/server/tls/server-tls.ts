import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
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
import { caDaysLeftToWarn, dayOf } from '../../tls/ca-expiry.js';
import { caFingerprint, splitPemCertificates } from '../../tls/pem.js';
import { writePrivateFile } from '../../tls/private-file.js';
import type { ServerConfig } from '../server-config.js';

const DAY_MS = 24 * 3600 * 1000;

/** What the server says about its wire: to routes (tokens, hosts, health). */
export interface ServerWire {
  /** True when it serves plain HTTP (`--insecure-http`). */
  insecureHttp: boolean;
  /** The fingerprint of the CA that agents and the CLI pin (see `caFingerprint`), or null. */
  caFingerprint(): string | null;
  /** When the CA that clients trust ends (ISO time); null without one (plain HTTP, a public CA). */
  caExpiresAt(): string | null;
}

/** Where the server keeps its own CA and certificate, under its data folder (0700, files 0600). */
export function tlsFolder(config: Pick<ServerConfig, 'data'>): string {
  return path.join(config.data, 'tls');
}

/** Somewhere to say what happened (renewed, reloaded) and what failed. */
export interface TlsLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
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
  /** The renewal or reload under way, if any: the next one starts after it (see `serially`). */
  private work: Promise<void> = Promise.resolve();

  private constructor(
    private readonly config: Readonly<ServerConfig>,
    private served: CertifiedKey,
    /** The server's own CA, when it is its own; undefined with the operator's certificate. */
    private readonly ca: CertifiedKey | undefined,
    private pinnedCa: string | null,
  ) {}

  /**
   * Loads (or on the first start makes) the certificate the server will serve.
   * Its own certificate is issued again, saying why through `say`, when the
   * pair on disk is not whole: a key that is not the certificate's (a renewal
   * cut short between its two renames), a certificate the CA in `ca.pem` did
   * not issue (a replaced or restored CA), one that has ended or cannot be read.
   */
  static async load(
    config: Readonly<ServerConfig>,
    say: (line: string) => void = () => undefined,
    hostname: string = os.hostname(),
  ): Promise<ServerTls> {
    if (config.tls.certFile !== undefined && config.tls.keyFile !== undefined) {
      const served = await readOperatorFiles(config.tls.certFile, config.tls.keyFile);
      return new ServerTls(config, served, undefined, operatorCaFingerprint(served.cert));
    }
    const folder = tlsFolder(config);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await chmod(folder, 0o700);
    const ca = await loadOrMakeCa(config, folder, say, hostname);
    const own = new ServerTls(config, { cert: '', key: '' }, ca, caFingerprint(ca.cert));
    const existing = await readPair(
      path.join(folder, 'server.pem'),
      path.join(folder, 'server-key.pem'),
    );
    if (existing === undefined) {
      await own.issue();
      return own;
    }
    const why = own.whyIssueAgain(existing);
    if (why === undefined) {
      own.served = existing;
      return own;
    }
    await own.issue();
    say(
      `TLS: issued a new server certificate (valid until ${new X509Certificate(own.served.cert).validTo}): ${why}.`,
    );
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

  /** When the CA clients trust ends: its own, or the private CA ending the operator's chain. */
  caExpiresAt(): string | null {
    const ca = this.ca?.cert ?? operatorCa(this.served.cert);
    return ca === undefined ? null : new Date(new X509Certificate(ca).validTo).toISOString();
  }

  /**
   * The line to warn with when the CA clients trust has less than
   * `CA_WARN_DAYS` left (said at start, logged at each check); else undefined.
   */
  caWarning(): string | undefined {
    const ends = this.caExpiresAt();
    const left = ends === null ? undefined : caDaysLeftToWarn(ends);
    if (ends === null || left === undefined) return undefined;
    const when =
      Date.parse(ends) <= Date.now()
        ? `ended on ${dayOf(ends)}`
        : `ends on ${dayOf(ends)} (${left} days left)`;
    if (this.ca === undefined) {
      return `WARNING: the CA at the end of the chain in ${this.config.tls.certFile} ${when}. Renew it in your PKI before then; agents and clients that pinned it must pin the new one.`;
    }
    return `WARNING: the server's CA (${path.join(tlsFolder(this.config), 'ca.pem')}) ${when}. Server certificates cannot outlive it, and agents trust only it: before then, make a new CA (move ${tlsFolder(this.config)} away and restart) and enrol the hosts again.`;
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
      this.warnIfCaEnding();
      this.serially(() => this.renewIfDue()).catch((err: unknown) => {
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
   * It waits for a renewal under way (and a renewal for it): one at a time, so
   * none serves or writes a pair half of which another one replaced.
   */
  reload(): Promise<void> {
    return this.serially(() => this.reloadNow());
  }

  /** Stops renewing, once a renewal or reload under way has written its files. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.work;
  }

  private async reloadNow(): Promise<void> {
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
    this.warnIfCaEnding();
  }

  private warnIfCaEnding(): void {
    const warning = this.caWarning();
    if (warning !== undefined) this.log?.warn({ caExpiresAt: this.caExpiresAt() }, warning);
  }

  /** Runs `task` after every renewal and reload before it, on one chain. */
  private serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.work.then(task);
    this.work = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async renewIfDue(): Promise<void> {
    if (!this.needsRenewal(this.served.cert)) return;
    await this.issue();
    this.log?.info(
      { notAfter: new X509Certificate(this.served.cert).validTo },
      'server certificate renewed',
    );
  }

  /**
   * Why the pair found on disk at start cannot be served as it is, or
   * undefined when it can (the server then serves it until it is due).
   */
  private whyIssueAgain(pair: CertifiedKey): string | undefined {
    const folder = tlsFolder(this.config);
    const certFile = path.join(folder, 'server.pem');
    const ca = new X509Certificate(this.ca!.cert);
    const chain = splitPemCertificates(pair.cert);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(chain[0] ?? '');
    } catch {
      return `${certFile} holds no certificate that can be read`;
    }
    let keyMatches: boolean;
    try {
      keyMatches = cert.checkPrivateKey(createPrivateKey(pair.key));
    } catch {
      keyMatches = false;
    }
    if (!keyMatches) {
      return `${path.join(folder, 'server-key.pem')} is not the key of the certificate in ${certFile} (a renewal cut short?)`;
    }
    if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey) || !sameCertificate(chain[1], ca)) {
      return `the certificate in ${certFile} was not issued by the CA in ${path.join(folder, 'ca.pem')} (was ca.pem replaced or restored?)`;
    }
    if (Date.parse(cert.validTo) <= Date.now()) {
      return `the certificate in ${certFile} ended on ${cert.validTo}`;
    }
    if (this.needsRenewal(pair.cert)) {
      return `the certificate in ${certFile} is due for renewal or lacks a configured name`;
    }
    return undefined;
  }

  /**
   * Whether a certificate of ours ends within the margin, or does not carry
   * every configured name. One that already ends with its CA is not renewed
   * for its end: a new one could not end later (so near the CA's end, no
   * certificate at each check).
   */
  private needsRenewal(certPem: string): boolean {
    const cert = new X509Certificate(certPem);
    const ends = Date.parse(cert.validTo);
    const endsWithCa = ends >= Date.parse(new X509Certificate(this.ca!.cert).validTo);
    if (!endsWithCa && ends - Date.now() < this.config.tls.renewBeforeDays * DAY_MS) return true;
    return !serverNames(this.config).every((name) =>
      isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined,
    );
  }

  /**
   * Issues a new server certificate from the CA, writes it, and serves it. The
   * key and the certificate are two renames: a crash between them leaves a
   * pair that does not match, which the next start finds and issues again.
   */
  private async issue(): Promise<void> {
    const ca = this.ca!;
    const made = await issueServerCertificate(
      ca,
      serverNames(this.config),
      this.config.tls.serverCertDays * DAY_MS,
    );
    const served = { cert: made.cert + ca.cert, key: made.key };
    const folder = tlsFolder(this.config);
    await writePrivateFile(path.join(folder, 'server-key.pem'), served.key);
    await writePrivateFile(path.join(folder, 'server.pem'), served.cert);
    this.swap(served);
  }

  private swap(served: CertifiedKey): void {
    this.served = served;
    this.server?.setSecureContext({ cert: served.cert, key: served.key });
  }
}

/**
 * The names in the server's own certificate: the defaults (the listen address,
 * the loopback names, the hostname), then the configured ones (`tls.names`),
 * which add to the defaults rather than replace them: a server given its
 * public name is still reached by the CLI on its own host as localhost.
 */
export function serverNames(config: Pick<ServerConfig, 'host' | 'tls'>): string[] {
  const names = ['localhost', '127.0.0.1', '::1', os.hostname()];
  if (config.host !== '0.0.0.0' && config.host !== '::') names.unshift(config.host);
  names.push(...(config.tls.names ?? []));
  return [...new Set(names.map((n) => n.toLowerCase()))];
}

/**
 * The server's CA from `ca.pem` and `ca-key.pem`, or a new one when neither
 * is there. An existing `ca-key.pem` is never replaced: agents pin the CA by
 * its public key, so with `ca.pem` missing (lost, or a first start cut short
 * between the two writes) a CA certificate is issued again from that key,
 * saying so through `say`, and the fingerprint agents pinned stays the same.
 * A `ca.pem` without its key, or with another key, is a start error: making a
 * new CA would silently leave every enrolled agent trusting the old one.
 */
async function loadOrMakeCa(
  config: Readonly<ServerConfig>,
  folder: string,
  say: (line: string) => void,
  hostname: string,
): Promise<CertifiedKey> {
  const certFile = path.join(folder, 'ca.pem');
  const keyFile = path.join(folder, 'ca-key.pem');
  const existing = await readPair(certFile, keyFile);
  if (existing) {
    checkCaPair(existing, certFile, keyFile);
    return existing;
  }
  if (await exists(certFile)) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `${certFile} is there but ${keyFile} is not: put the CA's key back (agents trust that CA), or move ${folder} away to make a new CA and enrol the hosts again`,
      { certFile, keyFile },
    );
  }
  let name = `Ferry CA ${hostname}`;
  const key = await readIfThere(keyFile);
  if (key !== undefined) {
    // The name the CA had: an agent's pinned copy is found by it (the server
    // certificate's issuer), so the host's name now (a container's changes)
    // would not do. server.pem says it, if it was issued by this key.
    const kept = await caNameIn(path.join(folder, 'server.pem'), key);
    if (kept !== undefined) name = kept;
    let ca: CertifiedKey;
    try {
      ca = await makeCertificateAuthority({ name, days: config.tls.caDays, key });
    } catch (err) {
      throw new FerryError(
        'E_CONFIG_INVALID',
        `${certFile} is missing and ${keyFile} is not an ECDSA P-256 CA key to issue it again from (${(err as Error).message}): restore ca.pem, or move ${folder} away to make a new CA and enrol the hosts again`,
        { certFile, keyFile },
      );
    }
    await writePrivateFile(certFile, ca.cert);
    say(
      kept !== undefined
        ? `TLS: ${certFile} was missing: issued a new CA certificate from the key in ${keyFile} (kept), named "${name}" as in server.pem; its fingerprint unchanged (${caFingerprint(ca.cert)}), so enrolled agents still trust this server.`
        : `TLS: ${certFile} was missing: issued a new CA certificate from the key in ${keyFile} (kept); its fingerprint unchanged (${caFingerprint(ca.cert)}). With no server.pem to take its name from, it is named "${name}" after this host: if the host's name changed since the CA was made, enrolled agents will not trust this server; restore ca.pem then.`,
    );
    return ca;
  }
  const ca = await makeCertificateAuthority({ name, days: config.tls.caDays });
  // The key first: a CA certificate without its key would be kept and useless.
  await writePrivateFile(keyFile, ca.key);
  await writePrivateFile(certFile, ca.cert);
  return ca;
}

/**
 * The common name of the CA that issued the chain in `serverPem` with the
 * private key `caKeyPem` (a CA certificate in the chain, or else the server
 * certificate's issuer), or undefined when the file is not there or no
 * certificate in it is this key's.
 */
async function caNameIn(serverPem: string, caKeyPem: string): Promise<string | undefined> {
  const text = await readIfThere(serverPem);
  if (text === undefined) return undefined;
  let publicKey;
  try {
    publicKey = createPublicKey(createPrivateKey(caKeyPem));
  } catch {
    return undefined;
  }
  for (const pem of splitPemCertificates(text)) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      continue;
    }
    if (!cert.verify(publicKey)) continue;
    const name = commonName(cert.issuer);
    if (name !== undefined) return name;
  }
  return undefined;
}

/** The CN of a distinguished name as Node prints it (`KEY=value` parts, a line or ` + ` apart). */
function commonName(dn: string): string | undefined {
  const line = dn.split(/\n| \+ /).find((l) => l.startsWith('CN='));
  return line?.slice('CN='.length);
}

function checkCaPair(ca: CertifiedKey, certFile: string, keyFile: string): void {
  let why: string | undefined;
  try {
    const cert = new X509Certificate(ca.cert);
    if (!cert.checkPrivateKey(createPrivateKey(ca.key))) why = 'another key';
  } catch (err) {
    why = (err as Error).message;
  }
  if (why !== undefined) {
    throw new FerryError(
      'E_CONFIG_INVALID',
      `${keyFile} is not the key of the CA certificate in ${certFile} (${why}): restore the two files together, or move the folder away to make a new CA and enrol the hosts again`,
      { certFile, keyFile },
    );
  }
}

/**
 * Whether `pem` is the certificate `cert` itself: their DER bytes compared,
 * so line endings or spacing in the PEM text (a CRLF restore) do not count.
 */
function sameCertificate(pem: string | undefined, cert: X509Certificate): boolean {
  if (pem === undefined) return false;
  try {
    return new X509Certificate(pem).raw.equals(cert.raw);
  } catch {
    return false;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

async function readIfThere(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
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
  const ca = operatorCa(chainPem);
  return ca === undefined ? null : caFingerprint(ca);
}

/** The self-signed CA that ends an operator's chain (PEM), if it does. */
function operatorCa(chainPem: string): string | undefined {
  const chain = splitPemCertificates(chainPem);
  if (chain.length < 2) return undefined;
  const pem = chain[chain.length - 1]!;
  const last = new X509Certificate(pem);
  return last.ca && last.checkIssued(last) ? pem : undefined;
}
