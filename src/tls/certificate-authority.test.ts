import { X509Certificate } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { issueServerCertificate, makeCertificateAuthority } from './certificate-authority.js';
import { caFingerprint } from './pem.js';

/** Answers whether a TLS client trusting only `ca` accepts `server` for `host`, and why not. */
async function handshake(
  server: { cert: string; key: string },
  ca: string,
  host: string,
): Promise<string> {
  const listener = tls.createServer(server, (socket) => socket.end());
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

describe('the server CA', () => {
  it('issues a server certificate for its names and addresses that a client trusting the CA accepts', async () => {
    const ca = await makeCertificateAuthority({ name: 'Ferry CA test', days: 3650 });
    const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1', '::1'], 3_600_000);
    const cert = new X509Certificate(server.cert);
    expect(cert.subjectAltName).toBe(
      'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    expect(cert.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(new X509Certificate(ca.cert).ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(new X509Certificate(ca.cert).publicKey.asymmetricKeyDetails?.namedCurve).toBe(
      'prime256v1',
    );
    const chain = { cert: server.cert + ca.cert, key: server.key };
    expect(await handshake(chain, ca.cert, 'localhost')).toBe('trusted');
    // Another name, another CA: refused.
    expect(await handshake(chain, ca.cert, 'elsewhere.example')).toBe(
      'ERR_TLS_CERT_ALTNAME_INVALID',
    );
    const other = await makeCertificateAuthority({ name: 'Ferry CA other', days: 1 });
    expect(await handshake(chain, other.cert, 'localhost')).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED/);
    expect(caFingerprint(ca.cert)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(caFingerprint(ca.cert)).not.toBe(caFingerprint(other.cert));
  });
});

describe('a server certificate of a CA near its end', () => {
  it('ends when its CA ends, not after', async () => {
    const ca = await makeCertificateAuthority({ name: 'Ferry CA short', days: 5 });
    const server = await issueServerCertificate(ca, ['localhost'], 90 * 86_400_000);
    const caEnds = Date.parse(new X509Certificate(ca.cert).validTo);
    expect(Date.parse(new X509Certificate(server.cert).validTo)).toBeLessThanOrEqual(caEnds);
  });
});

describe('many certificates', () => {
  it('are all valid DER that verifies, whatever bytes their serials and signatures start with', async () => {
    // A padded INTEGER (serial or signature) shows up about once in a hundred.
    for (let i = 0; i < 300; i++) {
      const ca = await makeCertificateAuthority({ name: 'Ferry CA many', days: 1 });
      const issuer = new X509Certificate(ca.cert);
      const made = await issueServerCertificate(ca, ['localhost'], 60_000);
      expect(new X509Certificate(made.cert).verify(issuer.publicKey)).toBe(true);
      // What the server does with it: OpenSSL refuses a padded INTEGER here.
      tls.createSecureContext({ cert: made.cert + ca.cert, key: made.key });
    }
  });
});
