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
 *
 * While a job runs the agent lifts `--optimize-for-size` (`heapAtWork`).
 */
export function leanAgentHeap(): void {
  setFlagsFromString('--optimize-for-size');
  setFlagsFromString('--no-opt');
  lean = true;
}

/** Whether `leanAgentHeap` was called: only then does a job lift the setting. */
let lean = false;
/** Jobs under way that lifted it: the last one to end puts it back. */
let atWork = 0;

/**
 * Lifts `--optimize-for-size` for the length of a job, and answers the function
 * that puts it back (once, whatever calls it after). An install moves tens of
 * megabytes through buffers (download, gunzip, unpack): with the setting, V8
 * keeps its young generation small and collects nearly twice as often (one
 * agent over 2 deploys and 12 rollbacks of a 20 MB app: 71–85 collections,
 * 42–50 with the setting lifted at work; bench/README.md, "Lean agent",
 * session 3, later). V8 reads the setting at each collection, so lifting it
 * takes effect at once, and once it is back the next collections size the
 * heap for an idle agent again. `--no-opt` stays: TurboFan at work would
 * touch the pages of its code in the `node` binary, which would then stay in
 * the agent's RSS.
 *
 * A process that did not call `leanAgentHeap` (a test running an agent in
 * its own process) keeps V8's defaults: nothing is changed.
 */
export function heapAtWork(): () => void {
  if (!lean) return () => undefined;
  if (atWork++ === 0) setFlagsFromString('--no-optimize-for-size');
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    if (--atWork === 0) setFlagsFromString('--optimize-for-size');
  };
}
