import { describe, expect, it } from 'vitest';
import { TaskQueue } from './task-queue.js';

function gate() {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('TaskQueue', () => {
  it('runs at most `concurrency` tasks at once, each key once, the rest as others end', async () => {
    const queue = new TaskQueue(2, () => undefined);
    const gates = [gate(), gate(), gate()];
    const started: string[] = [];
    gates.forEach((g, i) =>
      queue.add(`k${i}`, async () => {
        started.push(`k${i}`);
        await g.promise;
      }),
    );
    queue.add('k0', () => Promise.resolve(void started.push('again')));
    expect(started).toEqual(['k0', 'k1']);
    gates[0]!.open();
    await settle();
    expect(started).toEqual(['k0', 'k1', 'k2']);
    gates[1]!.open();
    gates[2]!.open();
    await settle();
    queue.forget('k0');
    queue.add('k0', () => Promise.resolve(void started.push('k0 again')));
    await settle();
    expect(started).toEqual(['k0', 'k1', 'k2', 'k0 again']);
  });

  it('reports a failed task and lets its key be asked again; after stop, nothing starts', async () => {
    const errors: string[] = [];
    const queue = new TaskQueue(1, (key, err) => errors.push(`${key}: ${(err as Error).message}`));
    queue.add('a', () => Promise.reject(new Error('down')));
    await settle();
    expect(errors).toEqual(['a: down']);
    let ran = false;
    queue.stop();
    queue.add('a', () => Promise.resolve(void (ran = true)));
    await settle();
    expect(ran).toBe(false);
  });
});
