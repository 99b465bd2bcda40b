/**
 * One line of progress on stderr. On a terminal it is redrawn in place at most ten
 * times a second; elsewhere (CI logs, pipes) a line is printed every few seconds.
 */
export class ProgressLine {
  private last: number;
  private shown = false;
  private readonly tty: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = Boolean(stream.isTTY);
    // Off a terminal, short work prints only its final line.
    this.last = this.tty ? 0 : Date.now();
  }

  update(text: string): void {
    if (this.quiet) return;
    const now = Date.now();
    if (now - this.last < (this.tty ? 100 : 5000)) return;
    this.last = now;
    this.write(text);
  }

  /** Prints the final state and moves on to a new line. */
  done(text: string): void {
    if (this.quiet) return;
    this.write(text);
    if (this.tty) this.stream.write('\n');
    this.shown = false;
  }

  private write(text: string): void {
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${text}`);
      this.shown = true;
    } else {
      this.stream.write(`${text}\n`);
    }
  }

  /** Clears a half-drawn line, before an error is printed. */
  clear(): void {
    if (this.tty && this.shown) this.stream.write('\r\x1b[2K');
    this.shown = false;
  }
}

/** `1.5 MB`, `320 B`: decimal units, as network speeds are given. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** `42% 420 MB / 1.00 GB, 120 MB/s` */
export function formatTransfer(done: number, total: number, startedAt: number): string {
  const seconds = Math.max((Date.now() - startedAt) / 1000, 0.001);
  const percent = total > 0 ? `${Math.floor((done / total) * 100)}% ` : '';
  return `${percent}${formatBytes(done)}${total > 0 ? ` / ${formatBytes(total)}` : ''}, ${formatBytes(done / seconds)}/s`;
}
