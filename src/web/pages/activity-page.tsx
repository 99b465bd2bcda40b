import { useTitle } from '../components/use-title.js';

/** The history and the live event stream. */
export function ActivityPage() {
  useTitle('Activity');
  return <h1>Activity</h1>;
}
