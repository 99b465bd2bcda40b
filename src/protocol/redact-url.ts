/**
 * A connection URL without its password, for messages and logs.
 *
 * @example
 *   redact('postgres://ferry:secret@db:5432/ferry') // → 'postgres://ferry:***@db:5432/ferry'
 */
export function redact(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');
}
