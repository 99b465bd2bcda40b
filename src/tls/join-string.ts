import { z } from 'zod';
import { FerryError } from '../protocol/errors.js';

/** What a join string carries: where the server is, the token, and the CA to trust there. */
export interface JoinTicket {
  /** The server's URL, as the person who made the token reaches it. */
  server: string;
  /** The token (an enrolment token for an agent, any token for `ferry login --join`). */
  token: string;
  /**
   * The fingerprint of the server's CA (`sha256:<hex>` of its public key, see
   * `caFingerprint`), or null when the server's certificate is from a CA the
   * system trusts (or the server speaks plain HTTP).
   */
  ca: string | null;
}

const PREFIX = 'ferry-join-v1.';

const ticketSchema = z.strictObject({
  server: z.string().regex(/^https?:\/\/[^\s]+$/),
  token: z.string().min(1),
  ca: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .nullable(),
});

/**
 * A join string: `ferry-join-v1.` and the ticket as base64url JSON, one word
 * to copy into a file. It holds a token: it is a secret.
 *
 * @example
 *   encodeJoinString({ server: 'https://ferry:7400', token, ca: 'sha256:3f1c…' });
 */
export function encodeJoinString(ticket: JoinTicket): string {
  return PREFIX + Buffer.from(JSON.stringify(ticketSchema.parse(ticket))).toString('base64url');
}

/** Reads a join string; anything else is `E_JOIN_INVALID`, never echoing the text (it may hold a token). */
export function decodeJoinString(text: string): JoinTicket {
  const trimmed = text.trim();
  if (!trimmed.startsWith(PREFIX)) {
    throw new FerryError(
      'E_JOIN_INVALID',
      `This is not a Ferry join string (one starts with ${PREFIX}, from \`ferry tokens create\`)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(trimmed.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const result = ticketSchema.safeParse(parsed);
  if (!result.success) {
    throw new FerryError(
      'E_JOIN_INVALID',
      'The join string is damaged (cut short when copied?): make a new one with `ferry tokens create`',
    );
  }
  return result.data;
}
