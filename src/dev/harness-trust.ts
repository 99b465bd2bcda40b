import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ServerTrust } from '../client/server-trust.js';

/**
 * The CAs of the servers this process started through the harness, and a
 * trust of exactly those: for a test's own calls (`harnessFetch`), its CLI
 * runs (`harnessCaFile`, as `FERRY_CA_FILE`) and the admin's client. A server
 * from elsewhere is not trusted.
 */
const known = new Set<string>();
let trust: ServerTrust | undefined;
let caFile: string | undefined;

/** Adds a server's CA (PEM) to what the harness trusts. */
export function trustHarnessCa(caPem: string): void {
  if (known.has(caPem)) return;
  known.add(caPem);
  trust = undefined;
  caFile = undefined;
}

/** A trust of the CAs of every server the harness started in this process. */
export function harnessTrust(): ServerTrust {
  trust ??= known.size === 0 ? ServerTrust.system() : ServerTrust.pinned([...known].join(''));
  return trust;
}

/**
 * `fetch` trusting the harness's servers (and plain HTTP, for an app's own
 * port): for a test that calls the API by hand.
 *
 * @example
 *   const answer = await harnessFetch(`${cluster.url}/api/v1/apps`, { headers });
 */
export const harnessFetch: typeof fetch = (input, init) => harnessTrust().fetch(input, init);

/** A file (PEM, this user's alone) holding the harness's CAs, for `FERRY_CA_FILE`. */
export function harnessCaFile(): string {
  if (caFile === undefined) {
    caFile = path.join(os.tmpdir(), `ferry-harness-ca-${process.pid}-${known.size}.pem`);
    writeFileSync(caFile, [...known].join(''), { mode: 0o600 });
  }
  return caFile;
}
