import { X509Certificate, createHash } from 'node:crypto';

/**
 * PEM text of DER bytes: `label` is `CERTIFICATE` or `PRIVATE KEY`.
 *
 * @example
 *   toPem(der, 'CERTIFICATE'); // '-----BEGIN CERTIFICATE-----\nMIIB…'
 */
export function toPem(der: ArrayBuffer | Uint8Array, label: string): string {
  const base64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString(
    'base64',
  );
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** The certificates of a PEM chain, in order, each as its own PEM block. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

/**
 * The fingerprint Ferry pins a CA by: `sha256:` and the hex sha256 of the
 * certificate's public key (its DER SubjectPublicKeyInfo), as `kubeadm join`'s
 * `--discovery-token-ca-cert-hash`. It names the CA's key, so a CA certificate
 * issued again with the same key keeps it.
 *
 * @example
 *   caFingerprint(readFileSync('ca.pem', 'utf8')); // 'sha256:3f1c…'
 */
export function caFingerprint(certificate: string | Buffer | X509Certificate): string {
  const cert =
    certificate instanceof X509Certificate ? certificate : new X509Certificate(certificate);
  return `sha256:${createHash('sha256').update(spkiDer(cert)).digest('hex')}`;
}

/**
 * The base64 sha256 of a certificate's public key: what Chromium's
 * `--ignore-certificate-errors-spki-list` takes to accept that one key.
 */
export function spkiSha256Base64(certificate: string | Buffer): string {
  return createHash('sha256')
    .update(spkiDer(new X509Certificate(certificate)))
    .digest('base64');
}

function spkiDer(cert: X509Certificate): Buffer {
  return cert.publicKey.export({ type: 'spki', format: 'der' });
}
