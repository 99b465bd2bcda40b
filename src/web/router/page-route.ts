import type { ComponentType } from 'preact';
import { matchPath, type PathParams } from './match-path.js';

/** What a page component gets: its path's parameters, decoded, and the query. */
export interface PageProps<P extends string = string> {
  params: PathParams<P>;
  /** The address's query, `?…` or empty. */
  search: string;
}

/** One page of the dashboard: the path it answers and its component. */
export interface PageRoute {
  path: string;
  component: ComponentType<{ params: Record<string, string>; search: string }>;
  /** Shown to a person not signed in (the sign-in page only). */
  public: boolean;
}

/**
 * Declares a page for the route table, typing its component's `params` from
 * the path: `page('/apps/:app', AppPage)` gives AppPage `params.app`.
 *
 * @example
 *   page('/hosts/:name', HostPage)
 */
export function page<P extends string>(
  path: P,
  component: ComponentType<PageProps<P>>,
  options: { public?: boolean } = {},
): PageRoute {
  return {
    path,
    component: component as unknown as PageRoute['component'],
    public: options.public ?? false,
  };
}

/** The first page whose path matches, with its parameters; null when none does. */
export function findPage(
  routes: readonly PageRoute[],
  pathname: string,
): { route: PageRoute; params: Record<string, string> } | null {
  for (const route of routes) {
    const params = matchPath(route.path, pathname);
    if (params) return { route, params };
  }
  return null;
}
