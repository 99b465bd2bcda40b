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
 * A webhook's URL to show: without a user's password and without the values
 * of its query (where services put their tokens: `?token=…`).
 *
 * @example
 *   redactWebhookUrl('https://u:pw@h.example/x?token=abc') // 'https://u:***@h.example/x?token=***'
 */
export function redactWebhookUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return '***';
  }
  if (url.password !== '') url.password = '***';
  const names = [...url.searchParams.keys()];
  if (names.length === 0) return url.href;
  const query = names.map((name) => `${encodeURIComponent(name)}=***`).join('&');
  return `${url.href.slice(0, url.href.indexOf('?'))}?${query}${url.hash}`;
}
