import { setFlagsFromString } from 'node:v8';

/**
 * The V8 settings `ferry agent` runs with, for a process that idles for months:
 *
 * - `--optimize-for-size`: V8 keeps the young generation and the heap's
 *   growth small and gives memory back sooner;
 * - `--no-opt`: no optimising compiler (TurboFan). Its compilations' memory
 *   and the pages of its code in the `node` binary are never touched. An
 *   agent's own JavaScript is light: the heavy work of an install (gunzip,
 *   sha256, writing files, `npm ci` in a process of its own) is native.
 *
 * Together about 9 MiB less for an idle agent, and the unpack and hashing of a
 * 20 MB bundle take no measurably more CPU (`node bench/agent-flags.mjs`,
 * figures in bench/README.md, "Lean agent"). Set once the process runs (Node
 * takes neither in NODE_OPTIONS): V8 reads both each time it sizes the heap or
 * would optimise a function, so they hold from then on. Commands the agent
 * runs are processes of their own and keep V8's defaults.
 */
export function leanAgentHeap(): void {
  setFlagsFromString('--optimize-for-size');
  setFlagsFromString('--no-opt');
}
