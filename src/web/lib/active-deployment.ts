import type { EnvironmentStatus } from '../../protocol/deployment-api.js';

/** How the dashboard shows the deployment under way in an environment. */
export interface ActiveLook {
  /** The state word its badge takes (see `stateLook`). */
  state: string;
  /** The badge's text: `deploying v13`, `baking v13`, `paused v13`, `queued v13`. */
  label: string;
  /** For a paused one: what ends the pause, and how. */
  note: string | null;
}

const WORDS: Record<string, string> = {
  pending: 'queued',
  running: 'deploying',
  baking: 'baking',
  paused: 'paused',
};

/**
 * The look of an environment's active deployment: named by its state (a
 * paused one is not "deploying"), and for a paused one, what a person does.
 *
 * @example
 *   activeLook({ id: 'dep_b', version: 13, state: 'paused' }).label; // 'paused v13'
 */
export function activeLook(active: NonNullable<EnvironmentStatus['active']>): ActiveLook {
  const word = WORDS[active.state] ?? active.state;
  return {
    state: word,
    label: `${word} v${active.version}`,
    note:
      active.state === 'paused'
        ? `paused after a bad bake: resume it or roll it back (ferry deployments resume|rollback ${active.id})`
        : null,
  };
}
