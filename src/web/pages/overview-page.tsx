import { useTitle } from '../components/use-title.js';

/** What runs where: apps × environments. */
export function OverviewPage() {
  useTitle('Overview');
  return <h1>Overview</h1>;
}
