import { z } from 'zod';

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
  /** Either way: the message with this id is handled and must not be sent again. */
  z.object({ kind: z.literal('ack'), id: z.string() }),
  /** Either way: the message with this id is invalid and was dropped; sending it again will not help. */
  z.object({ kind: z.literal('refused'), id: z.string(), error: z.string() }),
]);

export type Frame = z.infer<typeof frameSchema>;

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
