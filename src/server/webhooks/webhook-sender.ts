import { createHmac } from 'node:crypto';
import { STATUS_CODES } from 'node:http';

/** What one POST to a receiver came to. */
export interface SendResult {
  /** 2xx: delivered. */
  ok: boolean;
  /** The receiver's status; null when it did not answer. */
  status: number | null;
  /**
   * Why it is not delivered, in Ferry's words only: the status and its
   * standard reason (`HTTP 500 Internal Server Error`), or a short class of
   * error (`ECONNREFUSED`); never the receiver's body, headers or reason
   * phrase (a URL may point at an internal page). Null when delivered.
   */
  error: string | null;
}

/** `sha256=<hex>`: the HMAC-SHA256 of the raw body under the webhook's secret. */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * POSTs a notification to a receiver, signed, once. A redirect is not followed
 * (a failure); the answer's body is not read, only its status kept; a receiver
 * that takes longer than `timeoutMs` fails the attempt, and so does one still
 * sending when `stopping` aborts (the server closes).
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
  // Not a byte of the body: it is dropped with the connection.
  response.body?.cancel().catch(() => undefined);
  const { status } = response;
  if (status >= 200 && status < 300) return { ok: true, status, error: null };
  const line = `HTTP ${status}${STATUS_CODES[status] ? ` ${STATUS_CODES[status]}` : ''}`;
  const error = status >= 300 && status < 400 ? `${line}: redirects are not followed` : line;
  return { ok: false, status, error };
}

/** Why a request got no answer, as a short class (`ECONNREFUSED`, `ENOTFOUND`, …). */
function describeFailure(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  return code !== undefined && /^[A-Z][A-Z0-9_]{1,63}$/.test(code) ? code : 'the request failed';
}
