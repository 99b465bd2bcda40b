/**
 * The external services some suites need (PostgreSQL, RabbitMQ), found through
 * `FERRY_TEST_PG_URL` and `FERRY_TEST_AMQP_URL`. On a developer's machine a
 * suite whose service is not configured is skipped, with a line on stderr that
 * says so; under `CI=true` a missing service fails the run instead, so that CI
 * never goes green by skipping.
 *
 * @example
 *   const pg = testService('FERRY_TEST_PG_URL', 'PostgreSQL');
 *   describe.skipIf(!pg)('store on PostgreSQL', () => { ... });
 */
export function testService(variable: string, what: string): string | undefined {
  const url = process.env[variable];
  if (url !== undefined && url !== '') return url;
  if (process.env.CI === 'true' || process.env.CI === '1') {
    throw new Error(
      `${variable} is not set: under CI=true the ${what} suites must run, not be skipped. ` +
        '.ci/run sets it and starts the service.',
    );
  }
  process.stderr.write(
    `\n[ferry tests] ${what} suites skipped: set ${variable} to run them (see .ci/run)\n`,
  );
  return undefined;
}

/** `FERRY_TEST_PG_URL`, such as `postgres://postgres@127.0.0.1:5432/test`. */
export const pgUrl = () => testService('FERRY_TEST_PG_URL', 'PostgreSQL');

/** `FERRY_TEST_AMQP_URL`, such as `amqp://guest:guest@127.0.0.1:5672`. */
export const amqpUrl = () => testService('FERRY_TEST_AMQP_URL', 'RabbitMQ');
