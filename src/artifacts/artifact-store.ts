import type { Readable, Writable } from 'node:stream';

/** An upload in progress: write the bytes, then commit them under their sha256 or discard them. */
export interface ArtifactUpload {
  readonly stream: Writable;
  /** Moves the written bytes into place under `sha256`; idempotent when they are there already. */
  commit(sha256: string): Promise<void>;
  /** Throws the written bytes away; safe to call after a failed or committed upload. */
  discard(): Promise<void>;
}

/**
 * Where bundles live, content-addressed by sha256. The `fs/` adapter is a folder
 * (local or a shared mount); an S3-compatible one can follow behind this interface.
 */
export interface ArtifactStore {
  /** Removes uploads left behind by a process that died mid-upload. */
  init(): Promise<void>;
  beginUpload(): Promise<ArtifactUpload>;
  /** Size in bytes, or undefined when absent. */
  size(sha256: string): Promise<number | undefined>;
  /** Reads the bytes `start..end` (inclusive), or the whole artifact; an absent one errors the stream. */
  read(sha256: string, range?: { start: number; end: number }): Readable;
  /** Removes an artifact; one already absent is fine. A reader that has it open keeps its bytes. */
  delete(sha256: string): Promise<void>;
}
