import { useLayoutEffect, useRef } from 'preact/hooks';
import type { EnvironmentStatus } from '../../../protocol/deployment-api.js';
import { describeHost, hostState } from '../../lib/host-state.js';

/**
 * Every host of one environment as a small square coloured by its state and
 * titled with it in words. A thousand hosts make a thousand plain `<span>`s,
 * built straight into the DOM (no component, no virtual node per host), so
 * the overview of 150,000 hosts stays fast. The squares are a picture for the
 * eye; the same states are given in words beside them for everyone else.
 */
export function HostCells({ env, label }: { env: EnvironmentStatus; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  useLayoutEffect(() => {
    const element = box.current;
    if (!element) return;
    const desired = env.desired?.version ?? null;
    const cells = document.createDocumentFragment();
    for (const host of env.hosts) {
      const cell = document.createElement('span');
      const state = hostState(host, desired);
      cell.className = `cell s-${state}`;
      cell.title = describeHost(host, desired);
      cell.dataset.host = host.host;
      cell.dataset.state = state;
      cells.append(cell);
    }
    element.replaceChildren(cells);
  }, [env]);
  return <div class="host-cells" ref={box} role="img" aria-label={label} />;
}
