import { describe, expect, it } from 'vitest';
import { deadlineSignal } from './deadline-signal.js';

describe('deadlineSignal', () => {
  it('aborts at its deadline with a TimeoutError', async () => {
    const { signal } = deadlineSignal(30);
    expect(signal.aborted).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('aborts with the outer signal, also one aborted already', () => {
    const outer = new AbortController();
    const { signal, clear } = deadlineSignal(10_000, outer.signal);
    outer.abort(new Error('stopping'));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).message).toBe('stopping');
    clear();
    expect(deadlineSignal(10_000, outer.signal).signal.aborted).toBe(true);
  });

  it('never aborts once cleared', async () => {
    const { signal, clear } = deadlineSignal(20);
    clear();
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(signal.aborted).toBe(false);
  });
});
