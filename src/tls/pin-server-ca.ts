import { X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import tls, { type DetailedPeerCertificate } from 'node:tls';
import { FerryError } from '../protocol/errors.js';
import { caFingerprint, toPem } from './pem.js';

/**
 * Finds, in the chain a server presents at `url`, the CA whose fingerprint is
 * `expected` (from a join string) and answers it as PEM, to be the only CA
 * trusted from then on. The chain is read before anything is sent: no token
 * and no request goes over this connection, which is closed at once. A server
 * whose chain holds no such CA is refused with `E_SERVER_UNTRUSTED`, naming
 * the expected and seen fingerprints; so is one whose certificate that CA's
 * key did not sign (through the chain presented).
 *
 * @example
 *   const caPem = await pinServerCa('https://ferry:7400', 'sha256:3f1c…');
 */
export async function pinServerCa(url: string, expected: string): Promise<string> {
  const address = new URL(url);
  if (address.protocol !== 'https:') {
    throw new FerryError(
      'E_SERVER_UNTRUSTED',
      `The join string pins a CA (${expected}) but the server URL ${url} is plain HTTP: use https://`,
      { expected, server: url },
    );
  }
  const chain = await presentedChain(address);
  const seen = chain.map((cert) => caFingerprint(cert));
  const index = seen.indexOf(expected);
  const leaf = chain[0];
  const ca = chain[index];
  if (index < 0 || !leaf || !ca) {
    throw new FerryError(
      'E_SERVER_UNTRUSTED',
      `The server at ${address.host} is not the one the join string names: expected a CA with fingerprint ${expected}, but it presented ${seen.join(', ') || 'no certificate'}. Refused; nothing was sent to it.`,
      { expected, seen, server: url },
    );
  }
  if (!(index === 0 ? leaf.ca : signedInChain(chain, index))) {
    throw new FerryError(
      'E_SERVER_UNTRUSTED',
      `The server at ${address.host} presented the CA ${expected} the join string names, but its own certificate is not signed by the CA's key (anyone can copy a CA's certificate; only its key signs). Refused; nothing was sent to it.`,
      { expected, seen, server: url },
    );
  }
  return toPem(ca.raw, 'CERTIFICATE');
}

/**
 * Whether the leaf chains up to `chain[index]` through the certificates
 * between: each names the next as its issuer and its signature verifies with
 * the next one's public key. A name alone proves nothing (any certificate may
 * name any issuer); the signature does.
 */
function signedInChain(chain: X509Certificate[], index: number): boolean {
  for (let i = 0; i < index; i++) {
    const cert = chain[i]!;
    const issuer = chain[i + 1]!;
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) return false;
  }
  return true;
}

/** The certificates the server at `address` presents, leaf first, read without verifying them. */
function presentedChain(address: URL): Promise<X509Certificate[]> {
  const host = address.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    // Only to read the chain, which is checked against the pinned fingerprint
    // before anything else is trusted; the socket carries no byte of ours.
    const socket = tls.connect({
      host,
      port: Number(address.port || 443),
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
    });
    socket.setTimeout(15_000, () => socket.destroy(new Error('no TLS handshake within 15 s')));
    socket.once('secureConnect', () => {
      const chain: X509Certificate[] = [];
      let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
      const seen = new Set<string>();
      while (cert?.raw && !seen.has(cert.fingerprint256)) {
        seen.add(cert.fingerprint256);
        chain.push(new X509Certificate(cert.raw));
        // Undefined past the last certificate the server sent, despite the type.
        cert = cert.issuerCertificate;
      }
      socket.destroy();
      resolve(chain);
    });
    socket.once('error', (err: Error) =>
      reject(
        new FerryError(
          'E_SERVER_UNREACHABLE',
          `Cannot reach the Ferry server at ${address.origin} (${err.message})`,
          { server: address.origin },
        ),
      ),
    );
  });
}
