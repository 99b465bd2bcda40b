import { z } from 'zod';

/**
 * Bounds on the free-form fields people and bundles send: each is far beyond what a
 * real app needs, and small enough that no record can grow a database or a listing
 * out of shape. Documented in docs/bundles.md (Limits).
 */
export const FIELD_LIMITS = {
  /** A bundle label (`--label`, `ferry-bundle.json` `label`). */
  label: 100,
  /** A git commit in hex (sha1: 40, sha256: 64). */
  commit: 100,
  /** A token's name. */
  tokenName: 100,
  /** A path inside a bundle, or a link's target. */
  path: 4096,
  /** One command, a health check, an `exclude` pattern, an environment value. */
  text: 16 * 1024,
  /** Entries of one list in a manifest section (commands, `shared`, `exclude`, `env`). */
  list: 1000,
  /** The largest version number: what a JavaScript number holds exactly. */
  version: Number.MAX_SAFE_INTEGER,
} as const;

/**
 * Characters that make a terminal do something rather than show something: C0 and
 * C1 controls (ESC, CR, LF, BEL, …), DEL, line and paragraph separators, and the
 * bidirectional overrides that reorder what is shown.
 */
export const CONTROL_CHARACTERS = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/**
 * A value as indented JSON that is safe on a terminal: `JSON.stringify`
 * escapes C0 controls in strings, but not C1 ones (`\u009b` starts an escape
 * sequence too), line separators or bidi overrides; those are written as
 * `\u` escapes, which read back as the same string. The only newlines left
 * are the indentation's.
 */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(new RegExp(CONTROL_CHARACTERS.source, 'gu'), (c) =>
    c === '\n' ? c : `\\u${c.codePointAt(0)!.toString(16).padStart(4, '0')}`,
  );
}

const noControl = (text: string) => !CONTROL_CHARACTERS.test(text);

/**
 * A half of a UTF-16 surrogate pair with no other half: JavaScript holds it,
 * but UTF-8 (a store, a JSON answer) cannot, and writes U+FFFD instead — so a
 * label signed as one string would be recorded as another.
 */
const LONE_SURROGATE = /\p{Cs}/u;
const wellFormed = (text: string) => !LONE_SURROGATE.test(text);

/** A name or label shown in listings: at most `max` characters, none of them a control, all well-formed Unicode. */
export function printableSchema(max: number, what: string) {
  return z
    .string()
    .min(1, { error: `expected a ${what}` })
    .max(max, { error: `expected a ${what} of at most ${max} characters` })
    .refine(noControl, {
      error: `expected a ${what} without control characters (escape sequences, newlines, tabs)`,
    })
    .refine(wellFormed, {
      error: `expected a ${what} of well-formed Unicode (it has half of a surrogate pair, which cannot be stored as it is)`,
    });
}

/** A bundle's free-form label, such as `0.4.0.0`. */
export const labelSchema = printableSchema(FIELD_LIMITS.label, 'label');

/** A token's name, shown in records (who pushed, who deployed). */
export const tokenNameSchema = printableSchema(FIELD_LIMITS.tokenName, 'token name');

/** A git commit id, as `git rev-parse HEAD` prints it. */
export const commitSchema = z.string().regex(new RegExp(`^[0-9a-f]{4,${FIELD_LIMITS.commit}}$`), {
  error: `expected a git commit: 4 to ${FIELD_LIMITS.commit} lower-case hex digits`,
});

/** App, role and environment names: used in paths, queue names and URLs. */
export const PLAIN_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/** A role a host has and an app targets (`web`, `backend`). */
export const roleNameSchema = z.string().regex(PLAIN_NAME, {
  error: 'expected a role name: lower-case letters, digits and dashes, starting with a letter',
});

/** A version number written out: plain decimal digits, no sign, exponent, hex or spaces. */
export const VERSION_DIGITS = /^[1-9][0-9]{0,15}$/;

/**
 * A version as text (a path parameter, a CLI argument), read as plain decimal digits
 * only: `0x10`, `1e3`, ` 1` and `1.0` are refused rather than read as 16, 1000 or 1.
 *
 * @example
 *   versionTextSchema.parse('12'); // 12
 */
export const versionTextSchema = z
  .string()
  .regex(VERSION_DIGITS, { error: 'expected a version number: plain digits, such as 12' })
  .transform(Number)
  .refine((n) => n <= FIELD_LIMITS.version, {
    error: `expected a version number of at most ${FIELD_LIMITS.version}`,
  });

/** A count in a query string (`?limit=`), plain digits between `min` and `max`. */
export function countTextSchema(min: number, max: number) {
  return z
    .string()
    .regex(/^[0-9]{1,10}$/, { error: 'expected a number: plain digits' })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: `expected a number from ${min} to ${max}` });
}
