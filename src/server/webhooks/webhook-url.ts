import { createHash } from 'node:crypto';
import { FerryError } from '../../protocol/errors.js';

/**
 * A webhook's URL, checked: http or https, with a host. Anything else (a
 * `file:` or `ftp:` URL, text that is no URL) is `E_WEBHOOK_URL`.
 *
 * @example
 *   checkWebhookUrl('https://hooks.example.com/ferry'); // the URL, normalised
 *   checkWebhookUrl('ftp://example.com/x'); // throws E_WEBHOOK_URL
 */
export function checkWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FerryError('E_WEBHOOK_URL', 'The webhook URL is not a URL', {
      expected: 'http:// or https://',
    });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FerryError(
      'E_WEBHOOK_URL',
      `A webhook URL must be http:// or https://, not ${url.protocol}//`,
      { protocol: url.protocol },
    );
  }
  if (url.hostname === '') throw new FerryError('E_WEBHOOK_URL', 'The webhook URL has no host');
  return url.href;
}

/**
 * A webhook's URL to show: its scheme, host and port, and a short hash of
 * the rest, never the rest itself. Services put their tokens in the path
 * (Slack's `https://hooks.slack.com/services/T…/B…/<token>`), the query
 * (`?token=…`) or the user's password, so none of them is shown; the hash
 * (the first 6 hex digits of the SHA-256 of the whole URL) tells two webhooks
 * to one host apart, and lets a person who has the URL see that it is this one.
 *
 * @example
 *   redactWebhookUrl('https://hooks.slack.com/services/T0/B0/XXX') // 'https://hooks.slack.com/…#<6 hex>'
 *   redactWebhookUrl('https://h.example/') // 'https://h.example/'
 */
export function redactWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return '***';
  }
  const origin = `${url.protocol}//${url.host}`;
  const bare = url.username === '' && url.password === '' && url.pathname === '/';
  if (bare && url.search === '' && url.hash === '') return `${origin}/`;
  return `${origin}/…#${createHash('sha256').update(url.href).digest('hex').slice(0, 6)}`;
}
