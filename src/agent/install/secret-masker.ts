/** What a secret's value is replaced with in reported output and errors. */
export const SECRET_MASK = '••••';

/**
 * Lines of a multi-line secret shorter than this are not masked on their own:
 * a line such as `}` or an empty one would mask half of every log. Longer
 * lines (a PEM key's are 64 characters) are masked wherever they appear.
 */
const MIN_LINE_LENGTH = 8;

/** A masker of one stream: text goes in as it comes, masked text comes out. */
export interface MaskingStream {
  /** Masks what can be masked now; holds back a tail that may be the start of a secret. */
  push(text: string): string;
  /** Masks and returns what was held back: the stream has ended. */
  end(): string;
}

/**
 * Replaces secret values with `SECRET_MASK`, in whole texts (`mask`) and in
 * streams that arrive in pieces (`stream`), where a secret may be split across
 * two writes or span line breaks. A multi-line secret (a PEM key) is also
 * masked line by line, so that a command printing it one line at a time, or
 * with a prefix on each line, does not show it either.
 *
 * @example
 *   const masker = new SecretMasker(['hunter2']);
 *   const out = masker.stream();
 *   out.push('pass=hun') + out.push('ter2\n') + out.end(); // 'pass=••••\n'
 */
export class SecretMasker {
  /** Longest first, so that a secret holding another is masked whole. */
  private readonly values: string[];
  /** Every value, longest first: the first alternative that matches at a position wins. */
  private readonly pattern: RegExp | undefined;
  private readonly longest: number;

  constructor(secrets: string[]) {
    const values = new Set<string>();
    for (const secret of secrets) {
      if (secret.length === 0) continue;
      values.add(secret);
      if (!/[\r\n]/.test(secret)) continue;
      // The same value as a program may print it with other line ends, and each line alone.
      values.add(secret.replace(/\r?\n/g, '\r\n'));
      values.add(secret.replace(/\r\n/g, '\n'));
      for (const line of secret.split(/\r?\n/)) {
        const trimmed = line.trim();
        if (trimmed.length >= MIN_LINE_LENGTH) values.add(trimmed);
      }
    }
    this.values = [...values].sort((a, b) => b.length - a.length);
    this.pattern =
      this.values.length === 0
        ? undefined
        : new RegExp(
            this.values.map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'),
            'g',
          );
    this.longest = this.values[0]?.length ?? 0;
  }

  /** True when there is nothing to mask. */
  get empty(): boolean {
    return this.values.length === 0;
  }

  /** A whole text with every secret masked. */
  mask(text: string): string {
    return this.scan(text, true).masked;
  }

  /** A masker for one stream of pieces. */
  stream(): MaskingStream {
    let pending = '';
    return {
      push: (text) => {
        const { masked, held } = this.scan(pending + text, false);
        pending = held;
        return masked;
      },
      end: () => {
        const rest = this.mask(pending);
        pending = '';
        return rest;
      },
    };
  }

  /**
   * Masks `text` from left to right, the longest secret first at each
   * position. Unless `final`, stops at the first position from which the rest
   * of the text is the beginning of a secret, and returns that rest as `held`
   * for the next piece to complete or not.
   *
   * The search is one regular expression, compiled to native code: the agent
   * runs without V8's optimising compiler (`lean-heap.ts`), where a loop over
   * each character of a step's output cost several times as much.
   */
  private scan(text: string, final: boolean): { masked: string; held: string } {
    const pattern = this.pattern;
    if (pattern === undefined) return { masked: text, held: '' };
    const holdFrom = Math.max(0, text.length - this.longest + 1);
    let masked = '';
    let copiedTo = 0;
    pattern.lastIndex = 0;
    for (;;) {
      const match = pattern.exec(text);
      const matchAt = match === null ? text.length : match.index;
      if (!final) {
        const held = this.heldFrom(text, Math.max(copiedTo, holdFrom), matchAt);
        if (held !== undefined) {
          return { masked: masked + text.slice(copiedTo, held), held: text.slice(held) };
        }
      }
      if (match === null) break;
      masked += text.slice(copiedTo, match.index) + SECRET_MASK;
      copiedTo = match.index + match[0].length;
    }
    return { masked: masked + text.slice(copiedTo), held: '' };
  }

  /** The first position in [from, to) from which the rest of `text` begins a secret, cut off. */
  private heldFrom(text: string, from: number, to: number): number | undefined {
    for (let i = from; i < to; i++) {
      const rest = text.slice(i);
      if (this.values.some((v) => v.length > rest.length && v.startsWith(rest))) return i;
    }
    return undefined;
  }
}
