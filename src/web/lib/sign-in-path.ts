/** The sign-in page's address, remembering where the person was headed. */
export function signInPath(next: string): string {
  return next === '/' || next.startsWith('/sign-in')
    ? '/sign-in'
    : `/sign-in?next=${encodeURIComponent(next)}`;
}

/**
 * Where to go after signing in: the `next` of the sign-in page's query when
 * it is a path of this dashboard (never another site: `//evil`, `https:`).
 */
export function nextPath(search: string): string {
  const next = new URLSearchParams(search).get('next');
  if (next === null || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) {
    return '/';
  }
  return next.startsWith('/sign-in') ? '/' : next;
}
