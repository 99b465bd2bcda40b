#!/usr/bin/env node
/**
 * The one entry point: `ferry server` goes to the server, `ferry agent` to the
 * agent, `ferry demo` to the demo, and every other command to the CLI. This
 * file only wires.
 */
import type { Command } from 'commander';
import { commandNamed, createBaseProgram, isVersionOnly } from './cli/base-program.js';
import { reportError } from './cli/report-error.js';

/** How long `ferry server` and `ferry agent` take at most to stop after SIGTERM or SIGINT. */
const STOP_DEADLINE_MS = 8000;

/**
 * Runs `close` and exits: 0 when it ends, 1 when it fails or has not ended
 * within `ms` (something hung: a connection, a disk). A second signal kills at once.
 */
function stopWithin(ms: number, close: () => Promise<void>): void {
  setTimeout(() => {
    process.stderr.write(`not stopped after ${ms / 1000} s: exiting anyway\n`);
    process.exit(1);
  }, ms).unref();
  close().then(
    () => process.exit(0),
    (err: unknown) => process.exit(reportError(err)),
  );
}

function addServerCommand(program: Command): void {
  program
    .command('server')
    .description('run the Ferry server: HTTP API, bundle registry, deployments and the agents')
    .option('--data <dir>', 'folder for the database, bundles and admin token (or FERRY_DATA)')
    .option('--port <n>', 'port to listen on (or FERRY_PORT; default 7400, 0 for any free port)')
    .option('--host <addr>', 'address to listen on (or FERRY_HOST; default 127.0.0.1)')
    .option('--config <file>', 'YAML configuration file (see docs/server.md)')
    .option(
      '--store-url <url>',
      'keep metadata in PostgreSQL instead of SQLite (or FERRY_STORE_URL)',
    )
    .option(
      '--transport-url <url>',
      'reach agents through RabbitMQ instead of WebSockets (or FERRY_TRANSPORT_URL)',
    )
    .option(
      '--amqp-ca <file>',
      "for an amqps:// transport URL: the PEM file of the broker's CA (or FERRY_AMQP_CA; default: the system's CAs)",
    )
    .option(
      '--log-level <level>',
      'fatal, error, warn, info, debug, trace or silent (or FERRY_LOG_LEVEL)',
    )
    .option(
      '--tls-cert <file>',
      "serve this certificate (PEM, chain after it) instead of the server's own CA's (or FERRY_TLS_CERT); read again on SIGHUP",
    )
    .option('--tls-key <file>', 'the key of --tls-cert (or FERRY_TLS_KEY)')
    .option(
      '--tls-name <name>',
      "a name or address of the server's own certificate, once per name it is reached by (or FERRY_TLS_NAMES=a,b; default: the listen address, localhost, 127.0.0.1, ::1, the hostname)",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      '--insecure-http',
      'serve plain HTTP instead of HTTPS: tokens, variables and bundles cross the network in clear',
    )
    .option(
      '--sign-unsigned-bundles',
      'sign the bundles that have no server signature, trusting the store as it is (once, after checking them)',
    )
    .addHelpText(
      'after',
      '\nWithout --tls-cert the server is its own CA: on the first start it makes one and a\n' +
        'certificate for its names in <data>/tls, and renews the certificate in time.\n\n' +
        'Example:\n  ferry server --data /var/lib/ferry --host 0.0.0.0 --port 7400',
    )
    .action(
      async (options: {
        data?: string;
        port?: string;
        host?: string;
        config?: string;
        storeUrl?: string;
        transportUrl?: string;
        amqpCa?: string;
        logLevel?: string;
        tlsCert?: string;
        tlsKey?: string;
        tlsName?: string[];
        insecureHttp?: boolean;
        signUnsignedBundles?: boolean;
      }) => {
        const { loadServerConfig } = await import('./server/server-config.js');
        const { runServer } = await import('./server/run-server.js');
        const config = await loadServerConfig({
          file: options.config,
          flags: {
            data: options.data,
            port: options.port,
            host: options.host,
            logLevel: options.logLevel,
            storeUrl: options.storeUrl,
            transportUrl: options.transportUrl,
            amqpCa: options.amqpCa,
            tlsCert: options.tlsCert,
            tlsKey: options.tlsKey,
            tlsNames: options.tlsName,
            insecureHttp: options.insecureHttp,
          },
        });
        const running = await runServer(config, (line) => process.stdout.write(`${line}\n`), {
          signUnsignedBundles: options.signUnsignedBundles === true,
        });
        // Rollouts under way are left to their lease, as after a crash; the agents reconnect.
        const stop = (signal: string) => {
          process.stdout.write(`${signal}: stopping\n`);
          stopWithin(STOP_DEADLINE_MS, () => running.close());
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
        // A new certificate for new connections; open ones (agents) stay up.
        process.on('SIGHUP', () => {
          running.reloadTls().then(
            () => process.stdout.write('SIGHUP: TLS certificate reloaded\n'),
            (err: unknown) =>
              process.stderr.write(
                `SIGHUP: TLS reload failed, the certificate served so far stays: ${(err as Error).message}\n`,
              ),
          );
        });
      },
    );
}

function addAgentCommand(program: Command): void {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('agent')
    .description(
      'run the agent of this host: enrol, receive jobs, install releases, run and check the app',
    )
    .option('--env <env>', 'the environment this host belongs to (dev, qa, prod, ...)')
    .option('--roles <roles>', 'comma-separated roles: which apps this host runs')
    .requiredOption('--root <dir>', 'where releases, logs and the agent state live')
    .option(
      '--token-file <file>',
      'a file holding the enrolment token (or FERRY_TOKEN; never --token, which ps shows)',
    )
    .option(
      '--join-file <file>',
      'a file holding the join string from `ferry tokens create --role agent` (or FERRY_JOIN): the server, the enrolment token and the CA to pin',
    )
    .option('--name <name>', 'the host name in Ferry (default: this machine name)')
    .option(
      '--var <NAME=VALUE>',
      'a host variable for ${NAME} in the manifest (repeatable)',
      collect,
    )
    .option('--driver <driver>', 'process driver: builtin, supervisord or systemd', 'builtin')
    .option('--supervisord-config <file>', 'supervisord.conf, for --driver supervisord')
    .option('--supervisord-include <dir>', 'the folder supervisord includes *.conf from')
    .option('--systemd-unit-dir <dir>', 'where unit files go, for --driver systemd')
    .option('--path <PATH>', 'PATH for hooks, install commands and services')
    .option('--command-timeout <seconds>', 'time allowed to each hook or install command', '600')
    .option(
      '--check-timeout <seconds>',
      'time allowed to the server to say whether a job is still wanted, asked again with backoff (or FERRY_CHECK_TIMEOUT; default 15)',
    )
    .option(
      '--transport-url <url>',
      "take jobs from RabbitMQ (this host's broker user) instead of the server's WebSocket (or FERRY_TRANSPORT_URL)",
    )
    .option(
      '--transport-prefix <name>',
      "the first part of the broker's exchange and queue names, as the server's transport.prefix",
      'ferry',
    )
    .option(
      '--amqp-ca <file>',
      "for an amqps:// transport URL: the PEM file of the broker's CA (or FERRY_AMQP_CA; default: the system's CAs)",
    )
    .addHelpText(
      'after',
      '\nThe first start enrols the host with the join string in --join-file or FERRY_JOIN (from\n' +
        '`ferry tokens create --role agent --env ENV`): the agent checks that the server holds the\n' +
        'CA the join string names, keeps that CA in <root>/agent and trusts it alone from then on.\n' +
        'Its identity is kept there too; later starts need no join string. (--token-file or\n' +
        'FERRY_TOKEN with --server enrol with a bare token, trusting the system store.)\n\n' +
        'Example:\n  ferry agent --join-file /etc/ferry/join --env qa --roles web --root /srv/ferry --var PORT=8080',
    )
    .action(async (options: AgentCommandOptions, command: Command) => {
      // An agent idles for months: V8 keeps its heap small rather than fast to grow.
      const { leanAgentHeap } = await import('./agent/lean-heap.js');
      leanAgentHeap();
      const globals = command.optsWithGlobals<{ server?: string; token?: string }>();
      const { defaultCommandPath, defaultHostName, runAgent } =
        await import('./agent/run-agent.js');
      const { parseAgentOptions } = await import('./agent/agent-options.js');
      const agent = await runAgent(
        parseAgentOptions(
          options,
          globals,
          { path: defaultCommandPath(), name: defaultHostName() },
          (message) => process.stderr.write(`${message}\n`),
        ),
      );
      process.stdout.write(`Ferry agent ${agent.name} (${agent.hostId}) running\n`);
      const stop = (signal: string) => {
        process.stdout.write(`${signal}: stopping the agent (services keep running)\n`);
        stopWithin(STOP_DEADLINE_MS, () => agent.close());
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
}

/** The raw options of `ferry agent`, as commander gives them. */
interface AgentCommandOptions {
  env?: string;
  roles?: string;
  root: string;
  tokenFile?: string;
  joinFile?: string;
  name?: string;
  var?: string[];
  driver: string;
  supervisordConfig?: string;
  supervisordInclude?: string;
  systemdUnitDir?: string;
  path?: string;
  commandTimeout: string;
  checkTimeout?: string;
  transportUrl?: string;
  transportPrefix: string;
  amqpCa?: string;
}

function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start a server on this machine and walk through the story with the example app')
    .option('--exit', 'run the story and stop, cleaning up, instead of running until Ctrl-C')
    .option('--dir <dir>', 'where to keep the demo (default: a new temporary folder)')
    .action(async (options: { exit?: boolean; dir?: string }) => {
      const { runDemo } = await import('./demo/run-demo.js');
      await runDemo(options);
    });
}

// `ferry logs … | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const program = createBaseProgram();
// `ferry agent` and `ferry server` run for months: they load their own face only,
// not the client's command tree (see bench/agent-memory.mjs --modules).
// A client command loads its own module only (its start is mostly loading modules:
// bench/README.md, "The CLI's own start"); anything else (`--help`, `help`, a
// name commander does not know) gets the whole program, as before.
const named = commandNamed(process.argv.slice(2));
if (named === 'agent') addAgentCommand(program);
else if (named === 'server') addServerCommand(program);
else if (named === 'demo') addDemoCommand(program);
else if (isVersionOnly(process.argv.slice(2))) {
  // `ferry --version` needs no command.
} else {
  const { addClientCommand, addClientCommands } = await import('./cli/cli-program.js');
  if (named === undefined || !(await addClientCommand(program, named))) {
    await addClientCommands(program);
    addServerCommand(program);
    addAgentCommand(program);
    addDemoCommand(program);
  }
}
program.parseAsync(process.argv).catch((err: unknown) => {
  process.exitCode = reportError(err);
});
