/**
 * A signal that aborts after `ms` (with a `TimeoutError`, as
 * `AbortSignal.timeout` does) or when `outer` does, and `clear()` to drop its
 * timer once the work is done.
 *
 * Not `AbortSignal.any([outer, AbortSignal.timeout(ms)])`: the combined
 * signal holds its sources weakly, and a timeout signal nothing else holds can
 * be collected before it fires — then the deadline never comes. The agent's
 * small heap (`lean-heap.ts`) collects often: a still-wanted question once
 * waited 4 s past its 1 s deadline (test/slow-server.test.ts). Here the timer
 * holds the controller until it fires or is cleared.
 */
export function deadlineSignal(
  ms: number,
  outer?: AbortSignal,
): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')),
    ms,
  );
  const onOuter = () => controller.abort(outer?.reason);
  if (outer?.aborted) onOuter();
  else outer?.addEventListener('abort', onOuter, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}
