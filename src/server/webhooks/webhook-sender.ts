import { createHmac } from 'node:crypto';

/** The most of a receiver's answer that is read (kept as the error of a failed attempt). */
const ANSWER_BYTES = 1024;

/** What one POST to a receiver came to. */
export interface SendResult {
  /** 2xx: delivered. */
  ok: boolean;
  /** The receiver's status; null when it did not answer. */
  status: number | null;
  /** Why it is not delivered, in words; null when it is. */
  error: string | null;
}

/** `sha256=<hex>`: the HMAC-SHA256 of the raw body under the webhook's secret. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs a notification to a receiver, signed, once. A redirect is not followed
 * (it counts as a failure that names it); at most the first KiB of the answer
 * is read; a receiver that takes longer than `timeoutMs` fails the attempt, and
 * so does one still sending when `stopping` aborts (the server closes).
 *
 * @example
 *   const result = await sendNotification(url, body, { id, kind, secret }, 10_000);
 */
export async function sendNotification(
  url: string,
  body: string,
  what: { id: string; kind: string; secret: string },
  timeoutMs: number,
  stopping?: AbortSignal,
): Promise<SendResult> {
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = stopping ? AbortSignal.any([timeout, stopping]) : timeout;
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      body,
      redirect: 'manual',
      signal,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'ferry-webhooks',
        'x-ferry-signature': signBody(body, what.secret),
        'x-ferry-delivery': what.id,
        'x-ferry-event': what.kind,
      },
    });
  } catch (err) {
    const reason = timeout.aborted
      ? `no answer in ${timeoutMs} ms`
      : stopping?.aborted
        ? 'the server stopped before the receiver answered'
        : describeFailure(err);
    return { ok: false, status: null, error: reason };
  }
  const answer = await readSome(response, signal);
  if (response.status >= 200 && response.status < 300) {
    return { ok: true, status: response.status, error: null };
  }
  const location = response.headers.get('location');
  const error =
    response.status >= 300 && response.status < 400
      ? `HTTP ${response.status}: redirects are not followed${location ? ` (to ${location.slice(0, 200)})` : ''}`
      : `HTTP ${response.status}${answer ? `: ${answer}` : ''}`;
  return { ok: false, status: response.status, error };
}

/** The start of an answer's body, as text; the rest is not read (the connection is dropped). */
async function readSome(response: Response, signal: AbortSignal): Promise<string> {
  if (!response.body) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < ANSWER_BYTES && !signal.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // An answer cut short: what came is enough.
  } finally {
    reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks).subarray(0, ANSWER_BYTES).toString('utf8').trim().slice(0, 300);
}

function describeFailure(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
