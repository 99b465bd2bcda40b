import { useTitle } from '../components/use-title.js';
import type { PageProps } from '../router/page-route.js';

/** One app: its bundles, verdicts and environments, and the actions on them. */
export function AppPage({ params }: PageProps<'/apps/:app'>) {
  useTitle(params.app);
  return <h1>{params.app}</h1>;
}
