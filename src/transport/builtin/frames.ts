import { z } from 'zod';
import { installWantedSchema } from '../../protocol/deployment-api.js';

/**
 * What travels on the built-in transport's WebSocket: JSON text frames wrapping
 * protocol messages, and their acknowledgements. Kept apart from the messages
 * themselves (`protocol/messages.ts`), which another transport carries its own way.
 */
export const frameSchema = z.discriminatedUnion('kind', [
  /** Server → agent: a job (its body is checked against the job schema on arrival). */
  z.object({ kind: z.literal('job'), message: z.unknown() }),
  /** Agent → server: an event. */
  z.object({ kind: z.literal('event'), message: z.unknown() }),
  /**
   * Agent → server: the host's credential was rotated; the connection speaks
   * with this one from now on. Answered with `ack` (taken) or `refused` (and the
   * connection is closed), by the frame's id.
   */
  z.object({ kind: z.literal('credential'), id: z.string(), token: z.string().max(200) }),
  /**
   * Agent → server: is the install `installId` still wanted (see `askWanted`)?
   * Sent only to a server that says at the upgrade that it answers
   * (`QUESTIONS_HEADER`); answered by a `wanted` frame with the same id.
   */
  z.object({
    kind: z.literal('ask-wanted'),
    id: z.string().max(100),
    installId: z.string().max(100),
  }),
  /**
   * Server → agent: the answer to `ask-wanted` with this id: the server's word,
   * or the error it would have answered over HTTP (its code and status).
   */
  z.object({
    kind: z.literal('wanted'),
    id: z.string(),
    answer: installWantedSchema.optional(),
    error: z.object({ code: z.string(), status: z.number(), message: z.string() }).optional(),
  }),
  /** Either way: the message with this id is handled and must not be sent again. */
  z.object({ kind: z.literal('ack'), id: z.string() }),
  /** Either way: the message with this id is invalid and was dropped; sending it again will not help. */
  z.object({ kind: z.literal('refused'), id: z.string(), error: z.string() }),
]);

export type Frame = z.infer<typeof frameSchema>;

/**
 * The header of the server's answer to the upgrade that says it answers
 * `ask-wanted` frames. An agent asks on the connection only when it is there:
 * a server from before it would drop the frame unanswered.
 */
export const QUESTIONS_HEADER = 'x-ferry-agent-questions';

/**
 * The header of the server's answer to the upgrade that says how often it
 * pings the connection (ms): an agent that then hears nothing from it for
 * several of those takes the connection for dead (`silenceLimitMs`).
 */
export const PING_INTERVAL_HEADER = 'x-ferry-ping-interval';

/**
 * How long an agent waits, hearing nothing on its connection (no frame, no
 * ping), before it drops it and connects again: six of the server's ping
 * rounds, and never under 90 s — a ping waits behind a large frame on its
 * way (a job of a few MB on a slow link), and a connection dropped for
 * nothing costs a reconnection and its events sent again.
 */
export function silenceLimitMs(pingIntervalMs: number, floorMs = 90_000): number {
  return Math.max(6 * pingIntervalMs, floorMs);
}

/** The WebSocket path agents connect to, under the server's URL. */
export const AGENT_SOCKET_PATH = '/api/v1/agent/connect';

/** Parses one frame, or says why it is not one. */
export function parseFrame(data: unknown): { frame: Frame } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(String(data));
  } catch {
    return { error: 'not JSON' };
  }
  const parsed = frameSchema.safeParse(json);
  return parsed.success
    ? { frame: parsed.data }
    : { error: parsed.error.issues[0]?.message ?? 'not a frame' };
}

/** The id a malformed message carried, if any, so that it can be refused by id. */
export function idOf(message: unknown): string {
  const id = (message as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? id : '';
}
