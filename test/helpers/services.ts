import net from 'node:net';

/** Where the services are when nothing says otherwise: a local PostgreSQL and RabbitMQ on their default ports. */
export const DEFAULT_SERVICE_URLS = {
  FERRY_TEST_PG_URL: 'postgres://postgres@127.0.0.1:5432/test',
  FERRY_TEST_AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
} as const;

/**
 * Whether something accepts TCP connections at a URL's host and port, within
 * `timeoutMs`. It says nothing of the service behind it; a wrong one fails
 * the suites that use it, which is what should happen.
 */
export function answers(url: string, timeoutMs = 500): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname, port: Number(port) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

// Probed once per test file, before any suite is declared: suites decide at
// declaration time whether they run.
const detected = {
  FERRY_TEST_PG_URL: (await answers(DEFAULT_SERVICE_URLS.FERRY_TEST_PG_URL))
    ? DEFAULT_SERVICE_URLS.FERRY_TEST_PG_URL
    : undefined,
  FERRY_TEST_AMQP_URL: (await answers(DEFAULT_SERVICE_URLS.FERRY_TEST_AMQP_URL))
    ? DEFAULT_SERVICE_URLS.FERRY_TEST_AMQP_URL
    : undefined,
};

/**
 * The external services some suites need (PostgreSQL, RabbitMQ). A URL comes
 * from `FERRY_TEST_PG_URL` / `FERRY_TEST_AMQP_URL`; when the variable is not
 * set, from the service's default local address if something answers there
 * (`found`, null when nothing does). Set to the empty string, the variable says "no such service".
 * Without a URL a suite is skipped on a developer's machine, with a line on
 * stderr that says so; under `CI=true` it fails the run instead, so that CI
 * never goes green by skipping.
 *
 * @example
 *   const pg = testService('FERRY_TEST_PG_URL', 'PostgreSQL');
 *   describe.skipIf(!pg)('store on PostgreSQL', () => { ... });
 */
export function testService(
  variable: keyof typeof DEFAULT_SERVICE_URLS,
  what: string,
  found: string | null = detected[variable] ?? null,
): string | undefined {
  const url = process.env[variable];
  if (url !== undefined && url !== '') return url;
  if (url === undefined && found !== null) return found;
  const why =
    url === '' ? `${variable} is empty` : `nothing answers at ${DEFAULT_SERVICE_URLS[variable]}`;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(
      `${variable} is not set: under CI=true the ${what} suites must run, not be skipped ` +
        `(${why}); .ci/run starts the service.`,
    );
  }
  process.stderr.write(
    `\n[ferry tests] ${what} suites skipped (${why}): start it or set ${variable} (see .ci/run)\n`,
  );
  return undefined;
}

/** `FERRY_TEST_PG_URL`, or a PostgreSQL at `postgres://postgres@127.0.0.1:5432/test`. */
export const pgUrl = () => testService('FERRY_TEST_PG_URL', 'PostgreSQL');

/** `FERRY_TEST_AMQP_URL`, or a RabbitMQ at `amqp://guest:guest@127.0.0.1:5672`. */
export const amqpUrl = () => testService('FERRY_TEST_AMQP_URL', 'RabbitMQ');
