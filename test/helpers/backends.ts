import type { ClusterOptions } from './cluster.js';
import { createTestDatabase } from './pg-database.js';
import { randomBytes } from 'node:crypto';
import { deleteTopology } from './rabbitmq.js';
import { amqpUrl, pgUrl } from './services.js';

/**
 * The backends an end-to-end suite runs on: the embedded defaults, and each
 * engine at scale that this machine has. A suite loops over them:
 * `for (const backend of LIFECYCLE_BACKENDS) describe.skipIf(!backend.available())(...)`.
 */
export interface Backend {
  name: string;
  /** False when its service is not configured (on a laptop; under CI=true that throws instead). */
  available(): boolean;
  /** What the server says when it starts on this backend, to check it is the one in use. */
  serverSays: string;
  /** The cluster's options for this backend, and how to clean up after it. */
  setup(): Promise<{ options: ClusterOptions; cleanup: () => Promise<void> }>;
}

/** The built-in transport and the SQLite store: what `ferry server` uses with no settings. */
const embedded: Backend = {
  name: 'the built-in transport and SQLite',
  available: () => true,
  serverSays: 'store: SQLite',
  setup: () => Promise.resolve({ options: {}, cleanup: () => Promise.resolve() }),
};

const postgresUrl = pgUrl();

/** The PostgreSQL store, in a fresh database, with the built-in transport. */
const postgres: Backend = {
  name: 'PostgreSQL',
  available: () => postgresUrl !== undefined,
  serverSays: 'store: PostgreSQL postgres://',
  async setup() {
    const database = await createTestDatabase(postgresUrl!);
    return {
      options: { serverArgs: ['--store-url', database.url] },
      cleanup: () => database.drop(),
    };
  },
};

const rabbitUrl = amqpUrl();

/**
 * The RabbitMQ transport, under a topology prefix of its own (deleted after),
 * with the SQLite store; agents share the server's broker user, which it trusts.
 */
const rabbitmq: Backend = {
  name: 'RabbitMQ',
  available: () => rabbitUrl !== undefined,
  serverSays: 'transport: RabbitMQ amqp://',
  setup: () => Promise.resolve(rabbitmqSetup(rabbitUrl!)),
};

/** Cluster options for RabbitMQ with a fresh prefix, and how to remove its queues afterwards. */
export function rabbitmqSetup(url: string): {
  options: ClusterOptions;
  cleanup: () => Promise<void>;
} {
  const prefix = `e${randomBytes(4).toString('hex')}`;
  const hostIds: string[] = [];
  return {
    options: {
      config: `transport: { kind: rabbitmq, url: '${url}', prefix: ${prefix} }\n`,
      // The broker URL carries a password: in the environment, not in `ps`.
      agentArgs: () => ['--transport-prefix', prefix],
      agentEnv: { FERRY_TRANSPORT_URL: url },
      onHostEnrolled: (hostId) => hostIds.push(hostId),
    },
    cleanup: () => deleteTopology(url, prefix, hostIds),
  };
}

export const LIFECYCLE_BACKENDS: Backend[] = [embedded, postgres, rabbitmq];
