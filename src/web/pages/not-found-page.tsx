import { useTitle } from '../components/use-title.js';

/** An address that is no page of the dashboard. */
export function NotFoundPage() {
  useTitle('Not found');
  return (
    <section>
      <h1>Not found</h1>
      <p>There is no such page.</p>
      <p>
        <a href="/">Go to the overview</a>
      </p>
    </section>
  );
}
