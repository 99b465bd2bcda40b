import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { type KeyObject, randomBytes } from 'node:crypto';
import path from 'node:path';
import { parsePublicKey } from '../bundle/bundle-signature.js';
import { ApiError, FerryClient, type FerryClientOptions } from '../client/ferry-client.js';
import { ServerTrust } from '../client/server-trust.js';
import { pinServerCa } from '../tls/pin-server-ca.js';
import type { EnrollBody, EnrollResult } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';

/** Who this agent is: kept in `<root>/agent/identity.json`, mode 0600. */
export interface AgentIdentity {
  server: string;
  hostId: string;
  name: string;
  env: string;
  /** The host's own token (its credential), given by the server at enrolment, then rotated. */
  token: string;
  /**
   * The server's bundle-signing public key (32 bytes in base64), from the
   * enrolment answer, or fetched once by an agent enrolled before bundles were
   * signed (`signingKeyOf`). Every bundle is checked with it before it is unpacked.
   */
  signingKey?: string;
  /**
   * When `token` expires and when to rotate it, as the server said. Absent for
   * an identity made before credentials expired: the agent rotates it at start.
   */
  credential?: { expiresAt: string; rotateAt: string };
}

/** Where an agent root keeps its identity. */
export function identityFile(root: string): string {
  return path.join(root, 'agent', 'identity.json');
}

/**
 * Writes the identity, atomically (a new file renamed over the old, mode
 * 0600): a crash leaves the old identity or the new one, never half of one.
 */
export async function saveIdentity(root: string, identity: AgentIdentity): Promise<void> {
  const file = identityFile(root);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writePrivate(file, JSON.stringify(identity, null, 2));
}

/** The server's CA an agent trusts, alone, once pinned: `<root>/agent/server-ca.pem`, mode 0600. */
export function serverCaFile(root: string): string {
  return path.join(root, 'agent', 'server-ca.pem');
}

/**
 * The agent's identity: the one kept under `<root>/agent` (a restarted agent is
 * the same host), or a new one from enrolling with `enrollToken`. With
 * `caFingerprint` (from a join string), the server must first present that
 * CA, which is then kept in `<root>/agent/server-ca.pem` and is the only one
 * trusted, from the enrolment on; without, the system's store is.
 */
export async function loadOrEnroll(
  root: string,
  server: string,
  enrollToken: string | undefined,
  body: EnrollBody,
  caFingerprint?: string | null,
): Promise<{ identity: AgentIdentity; enrolled: boolean; trust: ServerTrust }> {
  const file = identityFile(root);
  const caFile = serverCaFile(root);
  try {
    const identity = JSON.parse(await readFile(file, 'utf8')) as AgentIdentity;
    const ca = await readFile(caFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    return {
      identity,
      enrolled: false,
      trust: ca === undefined ? ServerTrust.system() : ServerTrust.pinned(ca),
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!enrollToken) {
    throw new FerryError(
      'E_AUTH_REQUIRED',
      `This agent has no identity in ${path.dirname(file)} yet: enrol it with a token in --token-file FILE or FERRY_TOKEN (from \`ferry tokens create --role agent --env ${body.env}\`)`,
    );
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let trust = ServerTrust.system();
  if (caFingerprint) {
    // Before the token goes anywhere: the server must hold the pinned CA.
    const ca = await pinServerCa(server, caFingerprint);
    await writePrivate(caFile, ca);
    trust = ServerTrust.pinned(ca);
  }
  let enrolled: EnrollResult;
  try {
    enrolled = await new FerryClient(server, enrollToken, trust.clientOptions()).call('enroll', {
      body,
    });
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    throw new FerryError(err.code, `Enrolment refused: ${err.message}`, err.details);
  }
  // Without the server's key no bundle could be checked, so none installed: a
  // new enrolment needs it (every server that signs bundles sends it).
  if (enrolled.signingKey === undefined) {
    throw new FerryError(
      'E_KEY_INVALID',
      `The server's enrolment answer has no signingKey, the key this agent checks every bundle with: upgrade the server at ${server} to a Ferry that signs bundles`,
      { key: 'signingKey' },
    );
  }
  parsePublicKey(enrolled.signingKey, "the server's enrolment answer (signingKey)");
  const identity: AgentIdentity = {
    server,
    hostId: enrolled.hostId,
    name: enrolled.name,
    env: body.env,
    token: enrolled.token,
    signingKey: enrolled.signingKey,
    ...(enrolled.credential ? { credential: enrolled.credential } : {}),
  };
  await saveIdentity(root, identity);
  return { identity, enrolled: true, trust };
}

/**
 * Writes a file of this user's alone (0600), renamed into place. The file in
 * between has a name of its own: two saves at once (a rotation and a key fetch)
 * must not rename each other's file away; each writes the whole, the last wins.
 */
async function writePrivate(file: string, text: string): Promise<void> {
  const partial = `${file}.partial-${randomBytes(6).toString('hex')}`;
  try {
    await writeFile(partial, text, { mode: 0o600, flag: 'wx' });
    await chmod(partial, 0o600);
    await rename(partial, file);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

/**
 * The server's bundle-signing key: the one in the identity, or else (an agent
 * enrolled before bundles were signed) fetched from the server once, with the
 * host's own credential, and kept in identity.json from then on. The identity
 * is the agent's one copy (a rotation changes its token in place), so what is
 * saved holds both. Calls made while a fetch is under way share it.
 */
export function signingKeyOf(
  root: string,
  identity: AgentIdentity,
  clientOptions: FerryClientOptions,
): Promise<KeyObject> {
  const known = identity.signingKey;
  if (known !== undefined) {
    return Promise.resolve().then(() => parsePublicKey(known, 'identity.json (signingKey)'));
  }
  // Installs that start together share one fetch (and one save).
  let fetching = keyFetches.get(identity);
  if (fetching === undefined) {
    fetching = fetchSigningKey(root, identity, clientOptions).finally(() =>
      keyFetches.delete(identity),
    );
    keyFetches.set(identity, fetching);
  }
  return fetching;
}

const keyFetches = new WeakMap<AgentIdentity, Promise<KeyObject>>();

async function fetchSigningKey(
  root: string,
  identity: AgentIdentity,
  clientOptions: FerryClientOptions,
): Promise<KeyObject> {
  const { publicKey } = await new FerryClient(identity.server, identity.token, clientOptions).call(
    'signingKey',
    {},
  );
  // Checked before it is kept: a key that is not one would fail every install.
  const key = parsePublicKey(publicKey, "the server's signing-key answer");
  identity.signingKey = publicKey;
  await saveIdentity(root, identity);
  return key;
}
