import type { Command } from 'commander';
import { countTextSchema } from '../../protocol/fields.js';
import { webhookAddBodySchema } from '../../protocol/webhook-api.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printable, printJson, printTable, shortTime } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** `ferry webhooks add | list | test | remove | deliveries`: where notifications go (admin only). */
export function registerWebhooks(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description(
      'notifications to webhooks: deployments started, succeeded, failed, rolled back; verdicts; alerts (needs an admin token)',
    );

  webhooks
    .command('add <url>')
    .description(
      'add a webhook; its secret (what signs each notification) is shown once, and the server keeps it sealed',
    )
    .option('--env <env>', "only this environment's notifications (default: every one)")
    .option(
      '--kinds <kinds>',
      'only these kinds, comma-separated: deployment.started, deployment.succeeded, deployment.failed, deployment.rolled_back, verdict.changed, alert.raised, alert.cleared (default: all)',
    )
    .option('--format <format>', 'json, or slack for a Slack-compatible {"text": …} body', 'json')
    .option('--json', 'print the webhook and its secret as JSON')
    .addHelpText(
      'after',
      '\nEach notification is POSTed with `X-Ferry-Signature: sha256=<hex HMAC-SHA256 of the body\n' +
        'under the secret>`, `X-Ferry-Delivery` (its id: deduplicate by it) and `X-Ferry-Event`.\n' +
        'See docs/webhooks.md.\n\n' +
        'Examples:\n  ferry webhooks add https://hooks.example.com/ferry --env prod --kinds deployment.failed,alert.raised\n' +
        '  ferry webhooks add https://hooks.slack.com/services/T0/B0/XXX --format slack',
    )
    .action(
      async (
        url: string,
        options: { env?: string; kinds?: string; format: string },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const body = parseArg(
          webhookAddBodySchema,
          {
            url,
            env: options.env,
            kinds: options.kinds
              ?.split(',')
              .map((k) => k.trim())
              .filter((k) => k !== ''),
            format: options.format,
          },
          'webhook',
        );
        const created = await (await connect(globals)).addWebhook(body);
        if (globals.json) {
          printJson(created);
          return;
        }
        process.stdout.write(`${created.secret}\n`);
        process.stderr.write(
          printable(
            `Webhook ${created.id} → ${created.url} (${created.env ?? 'every environment'}; ${created.kinds.join(', ')}; ${created.format}).`,
          ) +
            '\n' +
            'That is its secret, shown only now: keep it with the receiver.\n' +
            'A receiver checks each notification: X-Ferry-Signature is sha256=<hex HMAC-SHA256 of the raw body\n' +
            'with this secret> (compare in constant time), and deduplicates by X-Ferry-Delivery. See docs/webhooks.md.\n' +
            `Try it: ferry webhooks test ${printable(created.id)}\n`,
        );
      },
    );

  webhooks
    .command('list')
    .description(
      'list webhooks (never their secrets; of a URL only its scheme, host and port, and a hash of the rest)',
    )
    .option('--json', 'print the list as JSON')
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const list = await (await connect(globals)).webhooks();
      if (globals.json) {
        printJson(list);
        return;
      }
      printTable(list, [
        ['ID', (w) => w.id],
        ['URL', (w) => w.url],
        ['ENV', (w) => w.env ?? '(all)'],
        ['KINDS', (w) => w.kinds.join(',')],
        ['FORMAT', (w) => w.format],
        [
          'LAST DELIVERY',
          (w) =>
            w.lastDelivery
              ? `${w.lastDelivery.status}${w.lastDelivery.lastStatus === null ? '' : ` (${w.lastDelivery.lastStatus})`} ${shortTime(w.lastDelivery.updatedAt)}`
              : null,
        ],
      ]);
    });

  webhooks
    .command('test <id>')
    .description("send a ping notification now, once, and print the receiver's answer")
    .option('--json', 'print the delivery as JSON')
    .action(async (id: string, _options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const delivery = await (await connect(globals)).testWebhook(id);
      if (globals.json) {
        printJson(delivery);
        return;
      }
      // What the receiver answered is its text, not ours: never raw on a terminal.
      if (delivery.status === 'delivered') {
        process.stdout.write(
          `${printable(`Delivered ${delivery.id}: the receiver answered ${delivery.lastStatus}`)}\n`,
        );
        return;
      }
      process.stdout.write(
        `${printable(`Not delivered ${delivery.id}: ${delivery.lastError ?? 'no answer'}`)}\n`,
      );
      process.exitCode = 1;
    });

  webhooks
    .command('deliveries <id>')
    .description("a webhook's recent deliveries, newest first, with their status")
    .option('--limit <n>', 'at most n deliveries (default 50, at most 500)')
    .option('--json', 'print the deliveries as JSON')
    .action(async (id: string, options: { limit?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const limit =
        options.limit === undefined
          ? undefined
          : parseArg(countTextSchema(1, 500), options.limit, '--limit');
      const list = await (await connect(globals)).webhookDeliveries(id, limit);
      if (globals.json) {
        printJson(list);
        return;
      }
      printTable(list, [
        ['ID', (d) => d.id],
        ['KIND', (d) => d.kind],
        ['STATUS', (d) => d.status],
        ['ATTEMPTS', (d) => String(d.attempts)],
        ['ANSWER', (d) => (d.lastStatus === null ? null : String(d.lastStatus))],
        ['ERROR', (d) => d.lastError],
        ['NEXT TRY', (d) => (d.status === 'pending' ? shortTime(d.nextAttemptAt) : null)],
        ['RECORDED', (d) => shortTime(d.createdAt)],
      ]);
    });

  webhooks
    .command('remove <id>')
    .description('remove a webhook; its deliveries not yet made are dropped')
    .action(async (id: string, _options: unknown, command: Command) => {
      await (await connect(command.optsWithGlobals<GlobalOptions>())).removeWebhook(id);
      process.stdout.write(`Removed ${id}\n`);
    });
}
