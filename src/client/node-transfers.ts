import type { Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { HashingMeter, hashFile } from '../bundle/hashing.js';
import { FerryError } from '../protocol/errors.js';
import type { PushResult } from '../protocol/api.js';
import { pushResultSchema } from '../protocol/api.js';
import type { AGENT_ROUTES } from '../protocol/agent-routes.js';
import type { FerryClient } from './ferry-client.js';
import { errorFromAnswer, type RouteClient } from './route-client.js';

/** A client that can download bundles: the CLI's `FerryClient` or an agent's `AgentClient`. */
type DownloadClient = RouteClient<Pick<typeof AGENT_ROUTES, 'downloadBundle'>>;

/**
 * The client's Node-only extras: bundles as files, streamed up and down with
 * flat memory. The core (`ferry-client.ts`) stays fetch-only for browsers.
 */

/** Progress of a transfer, in bytes. */
export type TransferProgress = (done: number, total: number) => void;

/** A bundle on the server: its app and version. */
export interface BundleAddress {
  app: string;
  version: number;
}

/**
 * Streams a bundle file to the server (`pushBundle`); memory stays flat
 * whatever its size. The server may answer before it has read everything (a
 * refused bundle): its answer counts, not the broken pipe that follows, which
 * is why this rides on `node:http` rather than `fetch`.
 */
export async function pushBundleFile(
  client: FerryClient,
  file: string,
  options: {
    label?: string | undefined;
    /** A developer's signature over the bundle, and the public key it verifies with (base64). */
    signature?: { signature: string; publicKey: string } | undefined;
    onProgress?: TransferProgress;
  } = {},
): Promise<PushResult> {
  const { size } = await stat(file);
  const query = {
    ...(options.label ? { label: options.label } : {}),
    ...(options.signature
      ? { signature: options.signature.signature, signedBy: options.signature.publicKey }
      : {}),
  };
  const url = new URL(
    client.url('pushBundle', Object.keys(query).length > 0 ? { query } : undefined),
  );
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      sent += chunk.length;
      options.onProgress?.(sent, size);
      callback(null, chunk);
    },
  });
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      ...client.tlsOptions(),
      method: 'POST',
      headers: {
        ...client.headers(),
        'content-type': 'application/gzip',
        'content-length': String(size),
      },
    });
    request.on('response', resolve);
    request.on('error', (err) => reject(client.unreachable(err)));
    pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), counter, request).catch(() => {
      /* reported through the request's 'error' or 'response' */
    });
  });
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const status = response.statusCode ?? 0;
  if (status >= 400) throw errorFromAnswer(status, text);
  return pushResultSchema.parse(JSON.parse(text));
}

/** What one download attempt brought. */
export interface DownloadAttempt {
  /** True when the server sent the rest of a partial file (206), appended to it. */
  appended: boolean;
  /** Bytes written by this attempt. */
  bytes: number;
  /** The bundle's sha256 by the server (`X-Ferry-Sha256`), if it said. */
  sha256: string | null;
  /** The bytes of this answer's body (`Content-Length`), 0 when not said. */
  length: number;
  /**
   * The sha256 of the bytes this attempt received (of the whole bundle when not
   * appended); with `hashResumed`, of the whole file, appended or not.
   */
  received: string;
}

/**
 * One attempt to download a bundle into `file`: with `resumeFrom` > 0, asks
 * for the bytes from there (`Range`) and appends them when the server sends
 * only those (206), else writes the file anew. An error answer throws as the
 * client's `ApiError`; an unreachable server `E_SERVER_UNREACHABLE`; a body that
 * breaks off or a disk that fills throws the stream's own error, with what came
 * kept in `file`.
 */
export async function downloadBundleAttempt(
  client: DownloadClient,
  bundle: BundleAddress,
  file: string,
  options: {
    resumeFrom?: number;
    onProgress?: TransferProgress;
    signal?: AbortSignal;
    /**
     * When the answer is appended, the file's first `resumeFrom` bytes are
     * hashed first, so that `received` is the whole file's sha256: the bytes
     * are then hashed once, as they come, and never read again to be checked.
     */
    hashResumed?: boolean;
    /** How long the server may send nothing before the attempt gives up (60 s). */
    idleMs?: number;
  } = {},
): Promise<DownloadAttempt> {
  const from = options.resumeFrom ?? 0;
  const response = await requestDownload(
    client,
    bundle,
    from,
    options.signal,
    options.idleMs ?? DOWNLOAD_IDLE_MS,
  );
  const appended = response.statusCode === 206;
  const length = Number(response.headers['content-length'] ?? 0);
  let hash: Hash | undefined;
  try {
    hash = appended && options.hashResumed ? await hashFile(file, from) : undefined;
  } catch (err) {
    // The answer is not read: its connection goes, rather than waiting in the pool.
    response.destroy();
    throw err;
  }
  const meter = new HashingMeter({
    onProgress: (bytes) => options.onProgress?.(bytes, length),
    ...(hash ? { hash } : {}),
  });
  await pipeline(
    response,
    meter,
    createWriteStream(file, { flags: appended ? 'a' : 'w', highWaterMark: DOWNLOAD_WRITE_BUFFER }),
  );
  const sha256 = response.headers['x-ferry-sha256'];
  return {
    appended,
    bytes: meter.bytes,
    sha256: typeof sha256 === 'string' ? sha256 : null,
    length,
    received: meter.sha256(),
  };
}

/**
 * How many received bytes may wait while the file is being written. The
 * records that come during one write go to the next one together (`writev`):
 * a few large writes, where the default 16 KB meant one write, one trip to
 * libuv's threads and one pause of the socket per TLS record.
 */
const DOWNLOAD_WRITE_BUFFER = 1024 * 1024;

/**
 * A server that stops sending (stopped, or a connection whose traffic is
 * dropped) ends the attempt after this long, rather than holding the install
 * for ever: what came is kept, and the next attempt resumes from it.
 */
const DOWNLOAD_IDLE_MS = 60_000;

/**
 * GETs a bundle (from byte `from` on, when > 0) on `node:http(s)` and answers
 * once its headers came; an error answer throws as `ApiError`.
 *
 * Not through the client's `fetch`: a fetch body is a web stream, and turning
 * each of a download's ~1,300 TLS records (16 KB) into a web-stream chunk and
 * back into a Node one, each written on its own, took 155-210 ms of CPU per
 * 21 MB download where this takes 90-135 (bench/README.md, Fan-out). Here the
 * records go straight from the socket to the hash and the file.
 */
async function requestDownload(
  client: DownloadClient,
  bundle: BundleAddress,
  from: number,
  signal: AbortSignal | undefined,
  idleMs: number,
): Promise<IncomingMessage> {
  signal?.throwIfAborted();
  const url = new URL(client.url('downloadBundle', { params: bundle }));
  const response = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(url, {
      ...client.tlsOptions(),
      headers: { ...client.headers(), ...(from > 0 ? { range: `bytes=${from}-` } : {}) },
      ...(signal ? { signal } : {}),
    });
    // Before the answer and while its body comes alike.
    request.setTimeout(idleMs, () =>
      request.destroy(new Error(`the server sent nothing for ${idleMs / 1000} s`)),
    );
    request.on('response', resolve);
    request.on('error', (err) => reject(signal?.aborted ? err : client.unreachable(err)));
    request.end();
  });
  const status = response.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    throw errorFromAnswer(status, Buffer.concat(chunks).toString('utf8'));
  }
  return response;
}

/**
 * Downloads a bundle to `out` and checks its sha256 against the server's; a
 * download that fails or does not match leaves nothing at `out`.
 */
export async function downloadBundleFile(
  client: DownloadClient,
  bundle: BundleAddress,
  out: string,
  onProgress?: TransferProgress,
): Promise<{ sha256: string; size: number }> {
  const partial = `${out}.partial-${process.pid}`;
  try {
    const got = await downloadBundleAttempt(client, bundle, partial, {
      ...(onProgress ? { onProgress } : {}),
    });
    const actual = got.received;
    if (got.sha256 && actual !== got.sha256) {
      throw new FerryError(
        'E_BUNDLE_CONTENT_MISMATCH',
        `The download's sha256 ${actual} is not the server's ${got.sha256}`,
      );
    }
    await rename(partial, out);
    return { sha256: actual, size: got.bytes };
  } finally {
    await rm(partial, { force: true });
  }
}
