import { useEffect, useState } from 'preact/hooks';

/** Where the page is: the path and query of the address bar. */
export interface Place {
  pathname: string;
  search: string;
}

const listeners = new Set<() => void>();

function place(): Place {
  return { pathname: location.pathname, search: location.search };
}

function changed(): void {
  for (const listener of listeners) listener();
}

/**
 * Goes to a path of the dashboard without reloading: a new history entry (or
 * the current one replaced), then every `usePlace` renders again.
 *
 * @example
 *   navigate('/sign-in?next=%2Fapps%2Fcart', { replace: true });
 */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  const url = new URL(to, location.href);
  if (url.origin !== location.origin) throw new Error(`navigate: ${to} is not on this server`);
  const target = `${url.pathname}${url.search}${url.hash}`;
  if (options.replace) history.replaceState(null, '', target);
  else history.pushState(null, '', target);
  changed();
  if (!url.hash) window.scrollTo(0, 0);
}

/** The current place; renders again on `navigate`, back and forward. */
export function usePlace(): Place {
  const [current, setCurrent] = useState(place);
  useEffect(() => {
    const update = () => setCurrent(place());
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return current;
}

/**
 * Makes every plain `<a href>` of the dashboard a History API navigation: a
 * left click without modifier keys on a link to this origin, not opening a new
 * tab or a download, and not to the API or an asset (those are files the
 * server gives). Links stay real links: middle-click, copy and open in a new
 * tab work. Returns the function that stops it.
 */
export function interceptLinks(root: Document = document): () => void {
  const onClick = (event: MouseEvent) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = (event.target as Element | null)?.closest?.('a[href]');
    if (!(anchor instanceof HTMLAnchorElement)) return;
    if (anchor.target && anchor.target !== '_self') return;
    if (anchor.hasAttribute('download')) return;
    const url = new URL(anchor.href);
    if (url.origin !== location.origin) return;
    if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
    event.preventDefault();
    if (url.pathname === location.pathname && url.search === location.search && url.hash) {
      location.hash = url.hash;
      return;
    }
    navigate(`${url.pathname}${url.search}${url.hash}`);
  };
  root.addEventListener('click', onClick);
  return () => root.removeEventListener('click', onClick);
}
