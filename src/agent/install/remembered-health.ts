import path from 'node:path';
import type { AppManifest } from '../../bundle/manifest-schema.js';

/**
 * What the agent keeps of an app's health check, to probe it between installs
 * (written by the health step, read by each facts report; this module is small
 * so that an idle agent need not load the install steps to read it).
 */
export interface RememberedHealth {
  version: number;
  /** The manifest's health section with its variables filled; null when it has none. */
  health: AppManifest['health'] | null;
  cwd: string;
  /** The environment of a `command` check, as during the install (kept mode 0600: it may hold secrets). */
  env: Record<string, string>;
}

/** The file an app's remembered health check is kept in. */
export function healthFile(stateDir: string, app: string): string {
  return path.join(stateDir, `${app}.health.json`);
}
