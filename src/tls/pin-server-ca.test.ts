import { webcrypto, X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import * as pkijs from 'pkijs';
import { afterEach, describe, expect, it } from 'vitest';
import { failure } from '../../test/helpers/failure.js';
import {
  type CertifiedKey,
  issueServerCertificate,
  makeCertificateAuthority,
} from './certificate-authority.js';
import { caFingerprint, toPem } from './pem.js';
import { pinServerCa } from './pin-server-ca.js';

const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never });
const AUTHORITY_KEY_ID = '2.5.29.35';

let servers: tls.Server[] = [];
afterEach(async () => {
  for (const server of servers) await new Promise((resolve) => server.close(resolve));
  servers = [];
});

/** A TLS server presenting `chain` (PEM, leaf first) with `key`; answers its URL. */
async function serve(chain: string, key: string): Promise<string> {
  const server = tls.createServer({ cert: chain, key }, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function der(pem: string): ArrayBuffer {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(body, 'base64')).buffer;
}

/**
 * `leaf` signed again with `signer`'s key, its authority key id removed: a
 * certificate that names its issuer (the CA `leaf` came from) as before, but
 * whose signature only `signer`'s key verifies.
 */
async function resigned(leaf: CertifiedKey, signer: CertifiedKey): Promise<string> {
  const key = await webcrypto.subtle.importKey(
    'pkcs8',
    der(signer.key),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const signerKey = new X509Certificate(signer.cert).publicKey;
  // As certificate-authority.ts does: an encoding OpenSSL refuses is made again.
  for (let attempt = 0; attempt < 8; attempt++) {
    const cert = pkijs.Certificate.fromBER(der(leaf.cert));
    cert.extensions = cert.extensions?.filter((e) => e.extnID !== AUTHORITY_KEY_ID);
    await cert.sign(key, 'SHA-256', engine);
    const pem = toPem(cert.toSchema(true).toBER(false), 'CERTIFICATE');
    try {
      if (new X509Certificate(pem).verify(signerKey)) return pem;
    } catch {
      // Made again.
    }
  }
  throw new Error('could not sign the certificate again');
}

describe('pinning the CA a server presents', () => {
  it("answers the CA whose fingerprint the join string names, when it signed the server's certificate", async () => {
    const ca = await makeCertificateAuthority({ name: 'Ferry CA pin', days: 1 });
    const leaf = await issueServerCertificate(ca, ['127.0.0.1'], 3_600_000);
    const url = await serve(leaf.cert + ca.cert, leaf.key);
    expect(await pinServerCa(url, caFingerprint(ca.cert))).toBe(ca.cert);
  });

  it('refuses a certificate that names the pinned CA as its issuer but is signed by another key', async () => {
    const ca = await makeCertificateAuthority({ name: 'Ferry CA pin', days: 1 });
    const impostor = await makeCertificateAuthority({ name: 'Ferry CA pin', days: 1 });
    const leaf = await issueServerCertificate(ca, ['127.0.0.1'], 3_600_000);
    const forged = await resigned(leaf, impostor);
    // By name (and without a key id to tell them apart) it was issued by the CA.
    expect(new X509Certificate(forged).checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(new X509Certificate(forged).verify(new X509Certificate(ca.cert).publicKey)).toBe(false);
    const url = await serve(forged + ca.cert, leaf.key);
    const refused = await failure(pinServerCa(url, caFingerprint(ca.cert)));
    expect(refused.code).toBe('E_SERVER_UNTRUSTED');
    expect(refused.message).toContain('is not signed by the CA');
    expect(refused.message).toContain(caFingerprint(ca.cert));
  });

  it('refuses a server whose chain holds no CA with the fingerprint', async () => {
    const ca = await makeCertificateAuthority({ name: 'Ferry CA pin', days: 1 });
    const other = await makeCertificateAuthority({ name: 'Ferry CA other', days: 1 });
    const leaf = await issueServerCertificate(other, ['127.0.0.1'], 3_600_000);
    const url = await serve(leaf.cert + other.cert, leaf.key);
    const refused = await failure(pinServerCa(url, caFingerprint(ca.cert)));
    expect(refused.code).toBe('E_SERVER_UNTRUSTED');
    expect(refused.message).toContain(`expected a CA with fingerprint ${caFingerprint(ca.cert)}`);
    expect(refused.message).toContain(caFingerprint(other.cert));
  });
});
