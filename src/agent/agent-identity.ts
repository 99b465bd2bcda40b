import { mkdir, readFile, rm } from 'node:fs/promises';
import { type KeyObject, X509Certificate } from 'node:crypto';
import path from 'node:path';
import { parsePublicKey } from '../bundle/bundle-signature.js';
import { AgentClient } from '../client/agent-client.js';
import { ApiError, type FerryClientOptions } from '../client/route-client.js';
import { ServerTrust } from '../client/server-trust.js';
import { pinServerCa } from '../tls/pin-server-ca.js';
import { caFingerprint } from '../tls/pem.js';
import { writePrivateFile } from '../tls/private-file.js';
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
  /**
   * The fingerprint (`sha256:…`, see `caFingerprint`) of the server's CA this
   * agent pinned when it enrolled with a join string: from then on it trusts
   * that CA alone, kept in `<root>/agent/server-ca.pem`, and refuses to start
   * without it. Absent when it enrolled without one (a public CA: the system's
   * store); an agent enrolled before it was kept records it from the file.
   */
  serverCa?: string;
}

/** Where an agent root keeps its identity. */
export function identityFile(root: string): string {
  return path.join(root, 'agent', 'identity.json');
}

/**
 * Changes identity.json: reads what is kept, applies `change` (which edits the
 * identity it is given, or answers a new one), and writes the result
 * atomically (a new file renamed over the old, mode 0600), answering it. The
 * changes to one root are queued, each reading what the one before wrote: a
 * rotation and a key fetch at the same time each keep the other's field.
 *
 * @example
 *   const kept = await updateIdentity(root, (id) => { id.token = rotated.token; });
 */
export function updateIdentity(
  root: string,
  change: (identity: AgentIdentity) => AgentIdentity | void,
): Promise<AgentIdentity> {
  return queued(root, async () => {
    const file = identityFile(root);
    const identity = await readIdentity(root);
    if (identity === undefined) {
      throw new FerryError(
        'E_AUTH_REQUIRED',
        `This agent has no identity in ${path.dirname(file)} to change: enrol it first`,
      );
    }
    const changed = change(identity) ?? identity;
    await writePrivateFile(file, JSON.stringify(changed, null, 2));
    return changed;
  });
}

/**
 * What an enrolled agent trusts: the CA it pinned (`identity.serverCa`), kept in
 * server-ca.pem, and never the system's store once it pinned one. Without that
 * file, or with another CA in it, the agent does not start. An agent that
 * enrolled before the pin was kept in identity.json has it recorded now, from
 * the file; one with neither trusts the system's store (it enrolled without a
 * join string, with a server whose certificate is from a public CA).
 */
async function trustOf(root: string, identity: AgentIdentity): Promise<ServerTrust> {
  const caFile = serverCaFile(root);
  const ca = await readFile(caFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  const pinned = identity.serverCa;
  if (ca === undefined) {
    if (pinned === undefined) return ServerTrust.system();
    throw pinnedCaProblem(root, identity, `${caFile} is missing`);
  }
  let found: string;
  try {
    found = caFingerprint(ca);
  } catch {
    throw pinnedCaProblem(root, identity, `${caFile} holds no certificate`);
  }
  if (pinned === undefined) {
    // Enrolled before the pin was kept here: the file it pinned then is the pin.
    Object.assign(
      identity,
      await updateIdentity(root, (id) => {
        id.serverCa = found;
      }),
    );
  } else if (found !== pinned) {
    throw pinnedCaProblem(root, identity, `${caFile} holds another CA (${found})`);
  }
  // Only the certificate pinned (the file's first) is trusted, whatever else the
  // file holds: another CA appended to it is not trusted along with it.
  return ServerTrust.pinned(new X509Certificate(ca).toString());
}

function pinnedCaProblem(root: string, identity: AgentIdentity, what: string): FerryError {
  return new FerryError(
    'E_PINNED_CA_MISSING',
    `This agent pinned the server's CA ${identity.serverCa ?? '?'} when it enrolled, but ${what}. It will not trust another CA, nor the system's store, in its place. Put the file back if you kept a copy, or enrol this host again with a join string: \`ferry hosts remove ${identity.name}\`, delete ${identityFile(root)}, and start the agent with --join-file FILE (\`ferry tokens create --role agent --env ${identity.env}\` prints one).`,
    { file: serverCaFile(root), expected: identity.serverCa },
  );
}

/** The identity kept under `root`, or undefined when there is none yet. */
async function readIdentity(root: string): Promise<AgentIdentity | undefined> {
  const file = identityFile(root);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let identity: unknown;
  try {
    identity = JSON.parse(text);
  } catch (err) {
    throw corruptIdentity(file, `it is not JSON (${(err as Error).message})`);
  }
  if (typeof identity !== 'object' || identity === null || Array.isArray(identity)) {
    throw corruptIdentity(file, 'it holds no identity object');
  }
  return identity as AgentIdentity;
}

function corruptIdentity(file: string, what: string): FerryError {
  return new FerryError(
    'E_CONFIG_INVALID',
    `This agent's identity file ${file} is damaged: ${what}. Put back a copy if you kept one; otherwise enrol this host again: \`ferry hosts remove NAME\`, delete ${file} (and server-ca.pem beside it), and start the agent with --join-file FILE (\`ferry tokens create --role agent --env ENV\` prints one).`,
    { file },
  );
}

/** The tail of each root's queue of identity writes (keyed by the resolved root). */
const identityWrites = new Map<string, Promise<unknown>>();

/** Runs `task` after every identity write of `root` queued before it. */
function queued<T>(root: string, task: () => Promise<T>): Promise<T> {
  const key = path.resolve(root);
  const before = identityWrites.get(key) ?? Promise.resolve();
  // Runs whether the write before failed or not: its caller was told.
  const run = before.then(task, task);
  const tail = run.catch(() => undefined);
  identityWrites.set(key, tail);
  void tail.then(() => {
    if (identityWrites.get(key) === tail) identityWrites.delete(key);
  });
  return run;
}

/** Writes the identity of a new enrolment, in the same queue as every change to it. */
function saveNewIdentity(root: string, identity: AgentIdentity): Promise<void> {
  return queued(root, async () => {
    const file = identityFile(root);
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writePrivateFile(file, JSON.stringify(identity, null, 2));
  });
}

/** The server's CA an agent trusts, alone, once pinned: `<root>/agent/server-ca.pem`, mode 0600. */
export function serverCaFile(root: string): string {
  return path.join(root, 'agent', 'server-ca.pem');
}

/**
 * The agent's identity: the one kept under `<root>/agent` (a restarted agent is
 * the same host), or a new one from enrolling with `enrollToken`. With
 * `caFingerprint` (from a join string), the server must first present that
 * CA, which is then kept in `<root>/agent/server-ca.pem` (its fingerprint in
 * identity.json) and is the only one trusted, from the enrolment on, across
 * restarts (see `trustOf`); without, the system's store is.
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
  const kept = await readIdentity(root);
  if (kept !== undefined)
    return { identity: kept, enrolled: false, trust: await trustOf(root, kept) };
  if (!enrollToken) {
    throw new FerryError(
      'E_AUTH_REQUIRED',
      `This agent has no identity in ${path.dirname(file)} yet: enrol it with a token in --token-file FILE or FERRY_TOKEN (from \`ferry tokens create --role agent --env ${body.env}\`)`,
    );
  }
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let trust = ServerTrust.system();
  if (!caFingerprint) {
    // One left by a pinned enrolment that failed is no pin of this one: kept,
    // it would be taken for one at the next start (see `trustOf`).
    await rm(caFile, { force: true });
  } else {
    // Before the token goes anywhere: the server must hold the pinned CA.
    const ca = await pinServerCa(server, caFingerprint);
    await writePrivateFile(caFile, ca);
    trust = ServerTrust.pinned(ca);
  }
  let enrolled: EnrollResult;
  try {
    enrolled = await new AgentClient(
      server,
      enrollToken,
      agentClientOptions(trust, root, body.env),
    ).call('enroll', { body });
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
    ...(caFingerprint ? { serverCa: caFingerprint } : {}),
  };
  await saveNewIdentity(root, identity);
  return { identity, enrolled: true, trust };
}

/**
 * The client options of an agent's every call: `trust`, and the agent's own
 * advice for a server it does not trust (enrol again with a join string, not
 * the CLI's `ferry login --join`).
 */
export function agentClientOptions(
  trust: ServerTrust,
  root: string,
  env: string,
): FerryClientOptions & ReturnType<ServerTrust['clientOptions']> {
  return {
    ...trust.clientOptions(),
    untrustedAdvice: `if the server's CA changed (it was set up again), enrol this host again with a join string: \`ferry tokens create --role agent --env ${env}\` prints one; delete ${identityFile(root)} and ${serverCaFile(root)}, and start the agent with --join-file FILE. If it did not change, someone may be in the way`,
  };
}

/**
 * The server's bundle-signing key: the one in the identity, or else (an agent
 * enrolled before bundles were signed) fetched from the server once, with the
 * host's own credential, and kept in identity.json from then on (through
 * `updateIdentity`: a rotation at the same time keeps its token). Calls made
 * while a fetch is under way share it.
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
  const { publicKey } = await new AgentClient(identity.server, identity.token, clientOptions).call(
    'signingKey',
    {},
  );
  // Checked before it is kept: a key that is not one would fail every install.
  const key = parsePublicKey(publicKey, "the server's signing-key answer");
  Object.assign(
    identity,
    await updateIdentity(root, (kept) => {
      kept.signingKey = publicKey;
    }),
  );
  return key;
}
