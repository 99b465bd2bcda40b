import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RefetchScheduler } from './refetch-scheduler.js';

describe('RefetchScheduler', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('makes one fetch of a thousand requests within its delay', async () => {
    let runs = 0;
    const scheduler = new RefetchScheduler(() => Promise.resolve(void (runs += 1)), 300);
    for (let i = 0; i < 1000; i++) scheduler.request();
    expect(runs).toBe(0);
    await vi.advanceTimersByTimeAsync(299);
    expect(runs).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toBe(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(runs).toBe(1);
  });

  it('never runs two at once, and fetches once more after a request made during a run', async () => {
    let running = 0;
    let most = 0;
    let runs = 0;
    let finish: () => void = () => undefined;
    const scheduler = new RefetchScheduler(async () => {
      runs += 1;
      running += 1;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => (finish = resolve));
      running -= 1;
    }, 100);
    scheduler.now();
    expect(runs).toBe(1);
    scheduler.request();
    scheduler.request();
    await vi.advanceTimersByTimeAsync(500);
    expect(runs).toBe(1);
    finish();
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toBe(2);
    finish();
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs).toBe(2);
    expect(most).toBe(1);
  });

  it('starts nothing once disposed', async () => {
    let runs = 0;
    const scheduler = new RefetchScheduler(() => Promise.resolve(void (runs += 1)), 100);
    scheduler.request();
    scheduler.dispose();
    scheduler.now();
    await vi.advanceTimersByTimeAsync(1000);
    expect(runs).toBe(0);
  });
});
