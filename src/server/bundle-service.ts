import { type Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ArtifactStore } from '../artifacts/artifact-store.js';
import type { BundleMeta } from '../bundle/bundle-meta.js';
import type { BundleLimits } from '../bundle/inspect-bundle.js';
import type { AppSummary, BundleDetail, BundleRecord, PushResult } from '../protocol/api.js';
import { FerryError } from '../protocol/errors.js';
import { isStorageFull, storageFullError } from '../store/storage-full.js';
import type { Store, StoredSignature } from '../store/store.js';
import { developerStatement, parsePublicKey, verifyStatement } from '../bundle/bundle-signature.js';
import type { DeveloperKeys } from './developer-keys.js';
import type { ServerSigningKey } from './signing-key.js';
import { type Inspection, type InspectorPool, SLOT_BYTES } from './inspector-pool.js';

export interface PushInput {
  body: Readable;
  /** The declared Content-Length, when the client sent one. */
  contentLength: number | undefined;
  pushedBy: string;
  /** Overrides the label the bundle carries. */
  label?: string | undefined;
  /** A developer's signature sent with the push: checked, then kept with the bundle. */
  developerSignature?: StoredSignature | undefined;
  /** Aborted when the client goes away, so a push waiting for a checker gives up its place. */
  signal?: AbortSignal | undefined;
  /** Where the push says when it took a checker, and how many of them are busy then. */
  log?: PushLog | undefined;
}

/** The one logging call a push makes (a request's logger). */
export interface PushLog {
  info(details: object, message: string): void;
}

/** What bounds one push: its size, its contents, and its time. */
export type UploadLimits = BundleLimits & {
  maxBundleBytes: number;
  /** An upload that sends nothing for this long is cut off; also the grace before the rate counts. */
  uploadIdleSeconds: number;
  /** The average rate an upload must keep once its first `uploadIdleSeconds` are over. */
  uploadMinBytesPerSecond?: number | undefined;
  /** No upload takes longer, whatever its rate. */
  uploadMaxSeconds?: number | undefined;
  /** How long a push waits for a free checker before `E_SERVER_BUSY`; unbounded when unset. */
  checkerWaitSeconds?: number | undefined;
};

/** Receives, checks, numbers and serves bundles. */
export class BundleService {
  constructor(
    private readonly store: Store,
    private readonly artifacts: ArtifactStore,
    private readonly limits: UploadLimits,
    private readonly inspectors: InspectorPool,
    private readonly signing: {
      key: Pick<ServerSigningKey, 'sign' | 'publicKey'>;
      developers: Pick<DeveloperKeys, 'checked'>;
    },
  ) {}

  /**
   * Takes one pushed bundle. The body is written to a temporary file while it is
   * hashed and, in the same pass, unpacked in memory and checked entry by entry;
   * memory stays flat whatever the size. Only a complete, valid upload gets a
   * version; anything else leaves no record and no file.
   */
  async push(input: PushInput): Promise<PushResult> {
    const { maxBundleBytes } = this.limits;
    if (input.contentLength !== undefined && input.contentLength > maxBundleBytes) {
      throw tooLarge(maxBundleBytes);
    }
    const { checkerWaitSeconds } = this.limits;
    const inspection = await this.inspectors.begin(
      this.limits,
      input.signal,
      checkerWaitSeconds === undefined ? undefined : checkerWaitSeconds * 1000,
    );
    // How close pushes come to waiting for a checker (and to E_SERVER_BUSY): what
    // an operator sizing limits.inspectorThreads needs to see.
    input.log?.info(
      { checkersBusy: this.inspectors.busy, checkers: this.inspectors.size },
      'push took a bundle checker',
    );
    const upload = await this.artifacts.beginUpload();
    try {
      const { sha256, size, meta } = await this.receive(input, upload.stream, inspection);
      const label = input.label ?? meta.label;
      const signed = input.developerSignature;
      if (signed) checkDeveloperSignature(signed, { app: meta.app, sha256, label });
      const result = await this.store.bundles.record(
        {
          app: meta.app,
          sha256,
          size,
          label,
          commit: meta.git.commit,
          dirty: meta.git.dirty,
          fileCount: meta.files.length,
          createdAt: meta.createdAt,
          pushedBy: input.pushedBy,
          manifest: meta.manifest.apps[meta.app]!,
          ...(signed ? { developerSignatures: [signed] } : {}),
        },
        () => upload.commit(sha256),
        (bundle) => this.signing.key.sign(bundle),
      );
      if (!result.created) {
        await upload.discard();
        // The same bytes pushed again, signed: the signature is added to the
        // bundle there is, if it signs that bundle's label.
        if (signed) {
          checkDeveloperSignature(signed, result.bundle);
          result.bundle =
            (await this.store.bundles.addDeveloperSignature(
              result.bundle.app,
              result.bundle.version,
              signed,
            )) ?? result.bundle;
        }
      }
      return { ...result, bundle: this.checked(result.bundle), deployments: [] };
    } catch (err) {
      await upload.discard();
      // Moving the upload into place or recording it can meet a full disk too.
      if (isStorageFull(err)) throw storageFullError(err, 'the bundle');
      throw err;
    }
  }

  private async receive(
    input: PushInput,
    file: Writable,
    inspection: Inspection,
  ): Promise<{ sha256: string; size: number; meta: BundleMeta }> {
    // Counts, limits, gathers into the checker's slots and writes to the file:
    // one stage, rather than one per job, for the body's many small pieces.
    const sink = new UploadSink(inspection, file, this.limits.maxBundleBytes);
    // The body is piped into the sink rather than handed to a pipeline, so that
    // a stalled upload can be stopped without destroying the request: destroying
    // it would close the socket before the client has its answer.
    let clientFailed = false;
    let bodyEnded = false;
    const clientGone = (err: Error) => {
      clientFailed = true;
      sink.destroy(err);
    };
    input.body.once('end', () => (bodyEnded = true));
    input.body.once('error', clientGone);
    input.body.once('close', () => {
      if (!bodyEnded) clientGone(new Error('the client closed the upload before its end'));
    });
    input.body.pipe(sink);
    // A client that went away while its push waited for a checker.
    if (input.body.destroyed) clientGone(new Error('the client closed the upload before its end'));

    // A client that stops sending (asleep, or a half-open connection) or trickles
    // a byte now and then must not hold a checker thread for ever.
    const stalled = (message: string) => {
      input.body.unpipe(sink);
      input.body.pause();
      sink.destroy(new FerryError('E_UPLOAD_STALLED', message, { receivedBytes: sink.bytes }));
    };
    const deadline = this.uploadDeadline(
      stalled,
      () => sink.bytes,
      () => sink.lastProgress,
    );
    // Once the bundle is known to be bad, the rest of the body is read and dropped,
    // so that the client gets the error as an answer rather than a reset socket.
    inspection.result.catch(() => sink.stopForwarding());

    const writing = finished(sink);
    writing.catch(() => inspection.abort());
    const [written, inspected] = await Promise.allSettled([writing, inspection.result]);
    clearInterval(deadline);

    if (written.status === 'rejected') {
      const reason: unknown = written.reason;
      if (reason instanceof FerryError) throw reason;
      // Checked first: a failed write also ends the request body, which looks like a client gone.
      if (isStorageFull(reason))
        throw storageFullError(reason, `the upload (after ${sink.bytes} bytes)`);
      if (clientFailed) {
        throw new FerryError(
          'E_UPLOAD_INCOMPLETE',
          `The upload broke off after ${sink.bytes} bytes`,
          {
            receivedBytes: sink.bytes,
          },
        );
      }
      // The disk, not the client: full, read-only, or gone.
      throw new FerryError(
        'E_INTERNAL',
        `Could not store the upload: ${(reason as Error).message}`,
        undefined,
        {
          cause: reason,
        },
      );
    }
    if (input.contentLength !== undefined && sink.bytes !== input.contentLength) {
      throw new FerryError(
        'E_UPLOAD_INCOMPLETE',
        `The upload ended after ${sink.bytes} of ${input.contentLength} bytes`,
        { receivedBytes: sink.bytes, expectedBytes: input.contentLength },
      );
    }
    if (inspected.status === 'rejected') throw inspected.reason;
    return { sha256: inspected.value.sha256, size: sink.bytes, meta: inspected.value.meta };
  }

  /**
   * Watches an upload's time: `stalled` is called once it has sent nothing for
   * `uploadIdleSeconds`, once past that grace its average rate is below
   * `uploadMinBytesPerSecond`, or once it has taken `uploadMaxSeconds`.
   */
  private uploadDeadline(
    stalled: (message: string) => void,
    received: () => number,
    lastProgress: () => number,
  ): NodeJS.Timeout {
    const {
      uploadIdleSeconds: idle,
      uploadMinBytesPerSecond: minRate,
      uploadMaxSeconds: max,
    } = this.limits;
    const startedAt = Date.now();
    const timer = setInterval(
      () => {
        const now = Date.now();
        const seconds = (now - startedAt) / 1000;
        let message: string | undefined;
        if (now - lastProgress() >= idle * 1000) message = `The upload sent nothing for ${idle} s`;
        else if (max !== undefined && seconds >= max)
          message = `The upload took longer than limits.uploadMaxSeconds (${max} s)`;
        else if (minRate !== undefined && seconds > idle && received() < (seconds - idle) * minRate)
          message = `The upload sent ${received()} bytes in ${Math.round(seconds)} s, slower than limits.uploadMinBytesPerSecond (${minRate} bytes/s)`;
        if (message === undefined) return;
        clearInterval(timer);
        stalled(message);
      },
      Math.min(1000, (idle * 1000) / 4),
    );
    return timer;
  }

  async get(app: string, version: number): Promise<BundleDetail> {
    const bundle = await this.store.bundles.get(app, version);
    if (bundle) return bundle;
    if (!(await this.store.bundles.hasApp(app))) throw appNotFound(app);
    throw new FerryError('E_BUNDLE_NOT_FOUND', `${app}@${version} does not exist`, {
      app,
      version,
    });
  }

  async list(app: string, limit?: number): Promise<BundleRecord[]> {
    if (!(await this.store.bundles.hasApp(app))) throw appNotFound(app);
    return this.store.bundles.list(app, limit === undefined ? {} : { limit });
  }

  /**
   * A bundle as answered to a client (the bundle and bundles routes, the push):
   * its signatures checked here, not only shown (see `DeveloperKeys.checked`,
   * which remembers what it checked). `get` and `list` do not check: the
   * services inside (history, deployments) do not show signatures, and the
   * entry to an environment checks its own (`DeveloperKeys.checkEntry`).
   */
  checked<B extends BundleRecord>(bundle: B): B {
    return this.signing.developers.checked(bundle, this.signing.key.publicKey);
  }

  apps(): Promise<AppSummary[]> {
    return this.store.bundles.listApps();
  }

  /** Opens a bundle's bytes, whole or a range of them. */
  open(bundle: BundleRecord, range?: { start: number; end: number }): Readable {
    return this.artifacts.read(bundle.sha256, range);
  }
}

/**
 * Throws `E_SIGNATURE_INVALID` unless `signed` is its public key's signature over
 * the bundle's app, sha256 and label (see `developerStatement`).
 */
function checkDeveloperSignature(
  signed: StoredSignature,
  bundle: { app: string; sha256: string; label: string | null },
): void {
  const key = parsePublicKey(signed.publicKey, 'the push (signedBy)');
  if (verifyStatement(key, developerStatement(bundle), signed.signature)) return;
  throw new FerryError(
    'E_SIGNATURE_INVALID',
    `The signature sent with the push does not verify over ${bundle.app}, sha256 ${bundle.sha256} and label ${bundle.label === null ? '(none)' : JSON.stringify(bundle.label)} with the key sent with it`,
    { app: bundle.app, sha256: bundle.sha256, label: bundle.label },
  );
}

function tooLarge(limit: number): FerryError {
  return new FerryError(
    'E_BUNDLE_TOO_LARGE',
    `The bundle is larger than the server's limit of ${limit} bytes`,
    {
      limit,
    },
  );
}

function appNotFound(app: string): FerryError {
  return new FerryError('E_APP_NOT_FOUND', `No app named "${app}" has been pushed`, { app });
}

/**
 * Where an upload's body goes: counts it against the size limit, gathers its pieces (a TLS record
 * each, 16 KiB at most) into the inspection's shared slots, and writes each
 * full slot to the file and hands it to the checker thread from the same
 * memory: one copy, 1 MiB writes, and no buffer allocated per piece. A slot is
 * filled again once both are done with it; with none free, the body waits.
 * `stopForwarding()` turns it into a sink that drops everything (the bundle
 * is known to be bad; the rest is read only so the client gets its answer).
 */
export class UploadSink extends Writable {
  /** Bytes received so far. */
  bytes = 0;
  /** When the last of them came (`Date.now()`). */
  lastProgress = Date.now();
  private forwarding = true;
  private readonly free: number[];
  /** How many of the file and the checker still read each slot. */
  private readonly readers: number[];
  private slot: number | undefined;
  private filled = 0;
  private resume: (() => void) | undefined;
  private fileError: Error | undefined;

  constructor(
    private readonly inspection: Inspection,
    private readonly file: Writable,
    private readonly limit: number,
  ) {
    super({ highWaterMark: SLOT_BYTES });
    this.free = inspection.ring.map((_, i) => i);
    this.readers = inspection.ring.map(() => 0);
    file.on('error', (err) => {
      this.fileError = err;
      this.destroy(err);
    });
  }

  stopForwarding(): void {
    this.forwarding = false;
    this.wake();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error) => void): void {
    this.bytes += chunk.length;
    this.lastProgress = Date.now();
    if (this.bytes > this.limit) {
      callback(tooLarge(this.limit));
      return;
    }
    let offset = 0;
    const fill = () => {
      while (this.forwarding && offset < chunk.length) {
        if (this.slot === undefined) {
          const slot = this.free.pop();
          if (slot === undefined) {
            this.resume = fill;
            return;
          }
          this.slot = slot;
          this.filled = 0;
        }
        const ring = this.inspection.ring[this.slot]!;
        const copied = chunk.copy(ring, this.filled, offset);
        offset += copied;
        this.filled += copied;
        if (this.filled === ring.length) this.send();
      }
      callback(this.fileError);
    };
    fill();
  }

  override _final(callback: (err?: Error) => void): void {
    if (this.forwarding && this.slot !== undefined && this.filled > 0) this.send();
    if (this.forwarding) this.inspection.end();
    // The file ends once every slot written to it is: then its own end is awaited.
    const close = () => {
      if (this.forwarding && this.free.length < this.readers.length) {
        this.resume = close;
        return;
      }
      this.file.end();
      finished(this.file).then(
        () => callback(),
        (err: unknown) => callback(err as Error),
      );
    };
    close();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.resume = undefined;
    callback(err);
  }

  private send(): void {
    const slot = this.slot!;
    const length = this.filled;
    this.slot = undefined;
    this.filled = 0;
    this.readers[slot] = 2;
    const done = () => {
      if (--this.readers[slot]! > 0) return;
      this.free.push(slot);
      this.wake();
    };
    const bytes = this.inspection.ring[slot]!.subarray(0, length);
    this.file.write(bytes, (err) => {
      if (err) this.destroy(err);
      else done();
    });
    this.inspection.send(slot, length, done);
  }

  private wake(): void {
    const resume = this.resume;
    this.resume = undefined;
    resume?.();
  }
}
