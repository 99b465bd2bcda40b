import { useLayoutEffect, useRef } from 'preact/hooks';
import type { EnvironmentStatus } from '../../../protocol/deployment-api.js';
import { describeHost, type HostState, hostState } from '../../lib/host-state.js';
import { navigate } from '../../router/router.js';

/** Each state's colour, from the stylesheet's custom properties (`--cell-ok`…). */
const STATES: readonly HostState[] = ['ok', 'deploying', 'failed', 'behind', 'away'];

/** The largest width the squares take, in CSS pixels. */
const MAX_WIDTH = 352;

/** The size of a square and the gap between squares: smaller when there are many hosts. */
function cellSize(hosts: number): { size: number; gap: number } {
  return hosts > 200 ? { size: 6, gap: 1 } : { size: 9, gap: 2 };
}

/**
 * Every host of one environment as a small square coloured by its state,
 * drawn on one canvas: a thousand hosts are a thousand rectangles, not a
 * thousand elements, so the overview of 150,000 hosts renders at once and
 * redraws cheaply when the status is fetched again. Hovering a square titles
 * the canvas with that host in words ("qa-3: failed — runs v12, desired
 * v13"); clicking it opens the host's page. The picture is for the eye: its
 * label gives the counts in words, and the hosts that are not ok are named
 * beside it.
 */
export function HostCells({ env, label }: { env: EnvironmentStatus; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useLayoutEffect(() => {
    if (canvas.current) draw(canvas.current, env);
  }, [env]);

  const hostAt = (event: MouseEvent) => {
    const element = canvas.current;
    if (!element) return undefined;
    const { size, gap } = cellSize(env.hosts.length);
    const rect = element.getBoundingClientRect();
    const step = size + gap;
    const perRow = Math.max(1, Math.floor((MAX_WIDTH + gap) / step));
    const column = Math.floor((event.clientX - rect.left) / step);
    const row = Math.floor((event.clientY - rect.top) / step);
    if (column >= perRow) return undefined;
    return env.hosts[row * perRow + column];
  };

  return (
    <canvas
      ref={canvas}
      class="host-cells"
      role="img"
      aria-label={label}
      data-testid="host-cells"
      onMouseMove={(event) => {
        const host = hostAt(event);
        const title = host ? describeHost(host, env.desired?.version ?? null) : label;
        if (event.currentTarget.title !== title) event.currentTarget.title = title;
      }}
      onClick={(event) => {
        const host = hostAt(event);
        if (host) navigate(`/hosts/${encodeURIComponent(host.host)}`);
      }}
    />
  );
}

function draw(canvas: HTMLCanvasElement, env: EnvironmentStatus): void {
  const { size, gap } = cellSize(env.hosts.length);
  const step = size + gap;
  const perRow = Math.max(1, Math.floor((MAX_WIDTH + gap) / step));
  const columns = Math.min(perRow, env.hosts.length);
  const rows = Math.ceil(env.hosts.length / perRow);
  const width = Math.max(columns * step - gap, 1);
  const height = Math.max(rows * step - gap, 1);
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  // Sized through the CSSOM, which the Content-Security-Policy allows (no style attribute).
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext('2d');
  if (!context) return;
  context.scale(scale, scale);
  const look = getComputedStyle(canvas);
  const colours = new Map(
    STATES.map((state) => [state, look.getPropertyValue(`--cell-${state}`).trim() || '#888']),
  );
  const desired = env.desired?.version ?? null;
  env.hosts.forEach((host, i) => {
    const state = hostState(host, desired);
    const x = (i % perRow) * step;
    const y = Math.floor(i / perRow) * step;
    context.fillStyle = colours.get(state)!;
    if (state === 'away') {
      // Hollow: an away host is a gap in the picture, not a colour.
      context.lineWidth = 1;
      context.strokeStyle = colours.get(state)!;
      context.strokeRect(x + 0.5, y + 0.5, size - 1, size - 1);
    } else {
      context.fillRect(x, y, size, size);
    }
  });
}
