import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  webcrypto,
  X509Certificate,
} from 'node:crypto';
import { isIP } from 'node:net';
import { createSecureContext } from 'node:tls';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { toPem } from './pem.js';

/** A CA or a certificate it issued, with its key: PEM text. */
export interface CertifiedKey {
  /** The certificate (PEM). */
  cert: string;
  /** Its private key (PKCS#8 PEM): a secret, kept 0600. */
  key: string;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
// pkijs is typed against the DOM's Crypto, which Node's webcrypto is at run time.
const engine = new pkijs.CryptoEngine({ name: 'node', crypto: webcrypto as never });
const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const DAY_MS = 24 * 3600 * 1000;

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/**
 * Makes a self-signed CA: an ECDSA P-256 key and a certificate that may sign
 * server certificates, valid `days` from now. Given `key` (an ECDSA P-256
 * PKCS#8 PEM, an existing CA's), the certificate is for that key, which is
 * returned as it was given: the CA's fingerprint (over its public key, see
 * `caFingerprint`) stays the same.
 *
 * @example
 *   const ca = await makeCertificateAuthority({ name: 'Ferry CA db-1', days: 3650 });
 *   const again = await makeCertificateAuthority({ name: 'Ferry CA db-1', days: 3650, key: ca.key });
 */
export async function makeCertificateAuthority(options: {
  name: string;
  days: number;
  key?: string;
}): Promise<CertifiedKey> {
  return checked(
    () => makeCaOnce(options),
    (cert) => cert,
  );
}

async function makeCaOnce(options: {
  name: string;
  days: number;
  key?: string;
}): Promise<CertifiedKey> {
  const keys =
    options.key === undefined ? await generateKeyPair() : await importKeyPair(options.key);
  const cert = new pkijs.Certificate();
  const now = Date.now();
  setNames(cert.subject, options.name);
  setNames(cert.issuer, options.name);
  await fillBody(cert, keys.publicKey, now, now + options.days * DAY_MS);
  const ski = await keyIdentifier(cert);
  cert.extensions = [
    extension(
      OID.basicConstraints,
      true,
      new pkijs.BasicConstraints({ cA: true, pathLenConstraint: 0 }),
    ),
    extension(OID.keyUsage, true, keyUsage(0x06, 1)), // keyCertSign, cRLSign
    extension(OID.subjectKeyId, false, new asn1js.OctetString({ valueHex: ski })),
  ];
  await cert.sign(keys.privateKey, 'SHA-256', engine);
  return {
    cert: toPem(cert.toSchema(true).toBER(false), 'CERTIFICATE'),
    key: options.key ?? (await keyPem(keys.privateKey)),
  };
}

/**
 * Issues a server certificate signed by `ca` for `names` (DNS names and IP
 * addresses, each in the certificate's subjectAltName), valid `validityMs`
 * from now, with a new key.
 *
 * @example
 *   const server = await issueServerCertificate(ca, ['localhost', '127.0.0.1'], 90 * 86400_000);
 */
export async function issueServerCertificate(
  ca: CertifiedKey,
  names: readonly string[],
  validityMs: number,
): Promise<CertifiedKey> {
  const issuer = new X509Certificate(ca.cert);
  return checked(
    () => issueOnce(ca, names, validityMs),
    () => issuer,
  );
}

async function issueOnce(
  ca: CertifiedKey,
  names: readonly string[],
  validityMs: number,
): Promise<CertifiedKey> {
  const caCert = pkijs.Certificate.fromBER(pemBytes(ca.cert));
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemBytes(ca.key), EC_P256, false, [
    'sign',
  ]);
  const keys = await generateKeyPair();
  const cert = new pkijs.Certificate();
  const now = Date.now();
  setNames(cert.subject, names[0] ?? 'ferry');
  cert.issuer = caCert.subject;
  // Never past the CA's own end: a certificate its CA no longer vouches for is refused.
  const caEnds = caCert.notAfter.value.getTime();
  await fillBody(cert, keys.publicKey, now, Math.min(now + validityMs, caEnds));
  const caSki = await keyIdentifier(caCert);
  cert.extensions = [
    extension(OID.basicConstraints, true, new pkijs.BasicConstraints({ cA: false })),
    extension(OID.keyUsage, true, keyUsage(0x80, 7)), // digitalSignature
    extension(OID.extKeyUsage, false, new pkijs.ExtKeyUsage({ keyPurposes: [OID.serverAuth] })),
    extension(OID.subjectAltName, false, new pkijs.GeneralNames({ names: names.map(generalName) })),
    extension(
      OID.subjectKeyId,
      false,
      new asn1js.OctetString({ valueHex: await keyIdentifier(cert) }),
    ),
    extension(
      OID.authorityKeyId,
      false,
      new pkijs.AuthorityKeyIdentifier({
        keyIdentifier: new asn1js.OctetString({ valueHex: caSki }),
      }),
    ),
  ];
  await cert.sign(caKey, 'SHA-256', engine);
  return {
    cert: toPem(cert.toSchema(true).toBER(false), 'CERTIFICATE'),
    key: await keyPem(keys.privateKey),
  };
}

/**
 * Makes a certificate and checks it as a TLS peer will: it parses (strict DER)
 * and its signature verifies with its issuer's key. An ECDSA signature whose
 * number starts with zero bytes may come out of the encoder padded, which
 * OpenSSL refuses ("illegal padding"): such a one is made again.
 */
async function checked(
  make: () => Promise<CertifiedKey>,
  issuerOf: (cert: X509Certificate) => X509Certificate,
): Promise<CertifiedKey> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 8; attempt++) {
    const made = await make();
    try {
      const cert = new X509Certificate(made.cert);
      // As the server will load it: OpenSSL's strict parse of certificate and key.
      createSecureContext({ cert: made.cert, key: made.key });
      if (cert.verify(issuerOf(cert).publicKey)) return made;
      lastError = new Error('the certificate’s signature does not verify');
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`could not make a valid certificate: ${(lastError as Error).message}`);
}

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

/** The key pair of an ECDSA P-256 private key (PKCS#8 PEM): its public half derived from it. */
async function importKeyPair(pem: string): Promise<CryptoKeyPair> {
  const spki = createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pemBytes(pem), EC_P256, false, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, EC_P256, true, ['verify']),
  };
}

async function keyPem(key: CryptoKey): Promise<string> {
  return toPem(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function fillBody(
  cert: pkijs.Certificate,
  publicKey: CryptoKey,
  from: number,
  until: number,
) {
  cert.version = 2;
  const serial = randomBytes(16);
  // A positive INTEGER whose first byte is not zero: DER allows no padding.
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  cert.serialNumber = new asn1js.Integer({ valueHex: serial });
  // A minute back: a host whose clock runs a little behind still accepts it.
  cert.notBefore.value = new Date(from - 60_000);
  cert.notAfter.value = new Date(until);
  await cert.subjectPublicKeyInfo.importKey(publicKey, engine);
}

function setNames(name: pkijs.RelativeDistinguishedNames, commonName: string): void {
  name.typesAndValues = [
    new pkijs.AttributeTypeAndValue({
      type: OID.organization,
      value: new asn1js.Utf8String({ value: 'Ferry' }),
    }),
    new pkijs.AttributeTypeAndValue({
      type: OID.commonName,
      value: new asn1js.Utf8String({ value: commonName }),
    }),
  ];
}

/** The key identifier of a certificate's public key: sha1 of its key bits (RFC 5280, 4.2.1.2). */
async function keyIdentifier(cert: pkijs.Certificate): Promise<ArrayBuffer> {
  const bits = cert.subjectPublicKeyInfo.subjectPublicKey.valueBlock.valueHexView;
  const digest = createHash('sha1').update(bits).digest();
  return Promise.resolve(new Uint8Array(digest).buffer);
}

function keyUsage(bits: number, unusedBits: number): asn1js.BitString {
  return new asn1js.BitString({ valueHex: new Uint8Array([bits]).buffer, unusedBits });
}

function extension(
  extnID: string,
  critical: boolean,
  value: { toSchema(): asn1js.AsnType } | asn1js.AsnType,
) {
  const schema = 'toBER' in value ? value : value.toSchema();
  return new pkijs.Extension({ extnID, critical, extnValue: schema.toBER(false) });
}

function generalName(name: string): pkijs.GeneralName {
  const family = isIP(name);
  if (family === 0) return new pkijs.GeneralName({ type: 2, value: name });
  return new pkijs.GeneralName({
    type: 7,
    value: new asn1js.OctetString({ valueHex: ipBytes(name, family) }),
  });
}

function ipBytes(address: string, family: number): ArrayBuffer {
  if (family === 4) return new Uint8Array(address.split('.').map(Number)).buffer;
  // IPv6: expand `::` and write eight 16-bit groups.
  const [head = '', tail = ''] = address.includes('::') ? address.split('::') : [address, ''];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes.buffer;
}

function pemBytes(pem: string): ArrayBuffer {
  const body = pem.replace(/-----(BEGIN|END) [A-Z ]+-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(body, 'base64')).buffer;
}
