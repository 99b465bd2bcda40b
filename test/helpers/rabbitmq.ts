import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';

const run = promisify(execFile);

/** Deletes a test's exchanges and queues (its own prefix), so that the broker keeps nothing of it. */
export async function deleteTopology(
  url: string,
  prefix: string,
  hostIds: string[],
): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createChannel();
    for (const queue of [`${prefix}.events`, ...hostIds.map((h) => `${prefix}.host.${h}`)]) {
      await channel.deleteQueue(queue);
    }
    await channel.deleteExchange(`${prefix}.jobs`);
    await channel.deleteExchange(`${prefix}.events`);
    await channel.close();
  } finally {
    await connection.close();
  }
}

/** Runs `rabbitmqctl` (the tests run on the broker's machine, as root). */
export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 120_000 });
  return stdout;
}

/**
 * Creates a broker user with the permissions a host's user needs, as
 * docs/rabbitmq.md says; answers its URL and how to delete it.
 */
export async function restrictedUser(
  url: string,
  name: string,
  permissions: { configure: string; write: string; read: string },
): Promise<{ url: string; remove: () => Promise<void> }> {
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  await rabbitmqctl('add_user', name, password);
  await setPermissions(name, permissions);
  const own = new URL(url);
  own.username = name;
  own.password = password;
  return {
    url: own.toString(),
    remove: async () => {
      await rabbitmqctl('delete_user', name);
    },
  };
}

/** Sets a broker user's permissions on the default vhost. */
export async function setPermissions(
  name: string,
  permissions: { configure: string; write: string; read: string },
): Promise<void> {
  await rabbitmqctl(
    'set_permissions',
    '-p',
    '/',
    name,
    permissions.configure,
    permissions.write,
    permissions.read,
  );
}
