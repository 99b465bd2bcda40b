import { rm } from 'node:fs/promises';
import type { InstallStep } from './install-step.js';

/**
 * After a failure before the switch, removes the release this install
 * unpacked: half-installed, it must never be mistaken for one to switch to. Not
 * reported: the failed step was.
 */
export const discardStep: InstallStep = {
  name: 'discard',
  applies: (ctx) => ctx.failure !== undefined && ctx.unpacked && !ctx.switched,
  async run(ctx) {
    await rm(ctx.paths.releaseDir, { recursive: true, force: true });
  },
};
