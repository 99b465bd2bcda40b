import { FerryClient } from '../../client/ferry-client.js';
import { CSRF_HEADER } from '../../protocol/api.js';

let csrfToken: string | undefined;

/**
 * The dashboard's one client of the API, on the server that served the page.
 * It sends no token: the session cookie authenticates it, and each request
 * carries the session's CSRF token, which the server requires of every write.
 *
 * @example
 *   const { apps } = await api.call('status');
 */
export const api = new FerryClient(location.origin, undefined, {
  headers: (): Record<string, string> => (csrfToken ? { [CSRF_HEADER]: csrfToken } : {}),
});

/** Sets (or, signed out, clears) the CSRF token the client's requests carry. */
export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}
