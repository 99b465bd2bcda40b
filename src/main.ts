#!/usr/bin/env node
/**
 * The one entry point: `ferry server` goes to the server, `ferry demo` to the demo,
 * and every other command to the CLI. This file only wires.
 */
import type { Command } from 'commander';
import { createCliProgram } from './cli/cli-program.js';
import { reportError } from './cli/report-error.js';

function addServerCommand(program: Command): void {
  program
    .command('server')
    .description('run the Ferry server: HTTP API, bundle registry')
    .option('--data <dir>', 'folder for the database, bundles and admin token (or FERRY_DATA)')
    .option('--port <n>', 'port to listen on (or FERRY_PORT; default 7400, 0 for any free port)')
    .option('--host <addr>', 'address to listen on (or FERRY_HOST; default 127.0.0.1)')
    .option('--config <file>', 'YAML configuration file (see the README)')
    .option(
      '--log-level <level>',
      'fatal, error, warn, info, debug, trace or silent (or FERRY_LOG_LEVEL)',
    )
    .addHelpText(
      'after',
      '\nExample:\n  ferry server --data /var/lib/ferry --host 0.0.0.0 --port 7400',
    )
    .action(
      async (options: {
        data?: string;
        port?: string;
        host?: string;
        config?: string;
        logLevel?: string;
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
          },
        });
        const running = await runServer(config, (line) => process.stdout.write(`${line}\n`));
        const stop = (signal: string) => {
          process.stdout.write(`${signal}: stopping\n`);
          running.close().then(
            () => process.exit(0),
            (err: unknown) => process.exit(reportError(err)),
          );
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      },
    );
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

const program = createCliProgram();
addServerCommand(program);
addDemoCommand(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  process.exitCode = reportError(err);
});
