import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { leanAgentHeap } from './lean-heap.js';

/**
 * V8's own answer about a function (its `%GetOptimizationStatus`) after it was
 * asked to optimise it on its next call. This test file runs in a process of
 * its own (vitest's forks): the flags set here end with it.
 */
function optimisedByTurbofan(): boolean {
  setFlagsFromString('--allow-natives-syntax');
  // A fresh function each time: one V8 optimised before stays optimised.
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  const probe = new Function(`
    function add(a, b) { return a + b; }
    %PrepareFunctionForOptimization(add);
    add(1, 2);
    add(3, 4);
    %OptimizeFunctionOnNextCall(add);
    add(5, 6);
    return %GetOptimizationStatus(add);
  `) as () => number;
  /** V8's status bit for code made by TurboFan, its optimising compiler. */
  const TURBOFANNED = 1 << 6;
  return (probe() & TURBOFANNED) !== 0;
}

describe('leanAgentHeap', () => {
  it('turns off the optimising compiler from then on (no TurboFan code, nor its memory)', () => {
    // The probe sees TurboFan at work before, so its "no" after means something.
    expect(optimisedByTurbofan()).toBe(true);
    leanAgentHeap();
    expect(optimisedByTurbofan()).toBe(false);
  });
});
