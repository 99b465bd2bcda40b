import { useTitle } from '../components/use-title.js';

/** A page the dashboard does not have yet: a placeholder its route table points at. */
export function NotYetPage() {
  useTitle('Not built yet');
  return (
    <section>
      <h1>Not built yet</h1>
      <p>This page of the dashboard is not built yet.</p>
      <p>
        <a href="/">Back to the overview</a>
      </p>
    </section>
  );
}
