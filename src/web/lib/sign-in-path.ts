/** The sign-in page's address, remembering where the person was headed. */
export function signInPath(next: string): string {
  return next === '/' || next.startsWith('/sign-in')
    ? '/sign-in'
    : `/sign-in?next=${encodeURIComponent(next)}`;
}

/**
 * Where to go after signing in: the `next` of the sign-in page's query when
 * it is a path of this dashboard (never another site: `//evil`, `https:`,
 * nor `/\t/evil`, which a browser reads as `//evil` once it drops the tab),
 * as the path the browser itself would go to. It is resolved the way the
 * browser resolves it, against `origin` (the page's own), so what is checked
 * is what is visited.
 *
 * @example
 *   nextPath('?next=%2Fapps%2Fcart', 'https://ferry.example') // '/apps/cart'
 *   nextPath('?next=%2F%09%2Fevil.example', 'https://ferry.example') // '/'
 */
export function nextPath(search: string, origin: string): string {
  const next = new URLSearchParams(search).get('next');
  if (next === null || !next.startsWith('/')) return '/';
  let url: URL;
  try {
    url = new URL(next, origin);
  } catch {
    return '/';
  }
  if (url.origin !== new URL(origin).origin) return '/';
  const path = `${url.pathname}${url.search}${url.hash}`;
  return path.startsWith('/sign-in') ? '/' : path;
}
