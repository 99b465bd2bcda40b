/**
 * The names of a path pattern's `:params`, as a type: `'/reports/:app/:version'`
 * gives `'app' | 'version'`.
 */
export type ParamNames<P extends string> = P extends `${string}:${infer Name}/${infer Rest}`
  ? Name | ParamNames<`/${Rest}`>
  : P extends `${string}:${infer Name}`
    ? Name
    : never;

/** The parameters a pattern gives its page, each a decoded path segment. */
export type PathParams<P extends string> = { readonly [K in ParamNames<P>]: string };

/**
 * Matches a location's path against a pattern such as `/apps/:app`: the
 * decoded parameters when it matches, else null. A `:param` takes one whole
 * non-empty segment; a trailing slash is ignored; a segment that is not valid
 * percent-encoding matches nothing (it would be no app's name anyway).
 *
 * @example
 *   matchPath('/apps/:app', '/apps/cart') // { app: 'cart' }
 *   matchPath('/apps/:app', '/apps/cart/x') // null
 */
export function matchPath(pattern: string, pathname: string): Record<string, string> | null {
  const want = segments(pattern);
  const have = segments(pathname);
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const expected = want[i]!;
    const actual = have[i]!;
    if (expected.startsWith(':')) {
      const value = decodeSegment(actual);
      if (value === null || value === '') return null;
      params[expected.slice(1)] = value;
    } else if (expected !== actual) {
      return null;
    }
  }
  return params;
}

function segments(path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? [] : trimmed.split('/');
}

function decodeSegment(segment: string): string | null {
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}
