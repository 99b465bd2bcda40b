import type { ClusterOptions } from './cluster.js';

/**
 * The backends an end-to-end suite runs on: the embedded defaults, and each
 * engine at scale that this machine has. A suite loops over them:
 * `for (const backend of LIFECYCLE_BACKENDS) describe.skipIf(!backend.available())(...)`.
 */
export interface Backend {
  name: string;
  /** False when its service is not configured (on a laptop; under CI=true that throws instead). */
  available(): boolean;
  /** The cluster's options for this backend, and how to clean up after it. */
  setup(): Promise<{ options: ClusterOptions; cleanup: () => Promise<void> }>;
}

/** The built-in transport and the SQLite store: what `ferry server` uses with no settings. */
const embedded: Backend = {
  name: 'the built-in transport and SQLite',
  available: () => true,
  setup: () => Promise.resolve({ options: {}, cleanup: () => Promise.resolve() }),
};

export const LIFECYCLE_BACKENDS: Backend[] = [embedded];
