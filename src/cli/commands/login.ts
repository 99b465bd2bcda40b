import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ServerTrust } from '../../client/server-trust.js';
import { FerryError } from '../../protocol/errors.js';
import { decodeJoinString } from '../../tls/join-string.js';
import { pinServerCa } from '../../tls/pin-server-ca.js';
import { ApiClient } from '../api-client.js';
import { caFileOf, DEFAULT_SERVER, type GlobalOptions, setting } from '../cli-context.js';
import { saveLogin } from '../credentials.js';

/** `ferry login`: checks a token against a server and saves both for later commands. */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description(
      'check a server URL and token, and save them (mode 0600) for the commands that follow',
    )
    .option(
      '--join [file]',
      "log in with a join string (from `ferry tokens create --join`) read from FILE, '-' for stdin, or FERRY_JOIN: pins the server's CA",
    )
    .addHelpText(
      'after',
      '\nWith --join the server must present the CA the join string names (else nothing is\n' +
        'sent to it); that CA is saved with the token and is the only one trusted for this\n' +
        "server. Without, the server's certificate must be from a CA the system trusts (or\n" +
        'FERRY_CA_FILE names it).\n\n' +
        'Examples:\n  ferry login --join ~/ferry-join\n' +
        '  ferry login --server https://ferry.example.com --token "$(cat admin-token)"',
    )
    .action(async (options: { join?: string | true }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (options.join !== undefined) {
        const text = await readJoinText(options.join === true ? undefined : options.join);
        const ticket = decodeJoinString(text);
        const server = globals.server ?? ticket.server;
        // The CA first, then the token: nothing goes to a server that does not hold it.
        const ca = ticket.ca === null ? undefined : await pinServerCa(server, ticket.ca);
        const trust = ca === undefined ? ServerTrust.system() : ServerTrust.pinned(ca);
        const me = await new ApiClient(server, ticket.token, trust).whoami();
        const file = await saveLogin({ server, token: ticket.token, ca });
        process.stdout.write(
          `Logged in to ${server} as ${me.name} (role ${me.role}); server ${me.serverVersion}. ` +
            `${ca ? `Its CA ${ticket.ca} is pinned. ` : ''}Saved to ${file}\n`,
        );
        return;
      }
      const server = globals.server ?? setting(process.env, 'FERRY_SERVER') ?? DEFAULT_SERVER;
      const token = globals.token ?? setting(process.env, 'FERRY_TOKEN');
      if (!token)
        throw new FerryError(
          'E_AUTH_REQUIRED',
          'ferry login needs a token: --token T or FERRY_TOKEN, or a join string: --join FILE',
        );
      const ca = caFileOf(process.env);
      const trust = ca === undefined ? ServerTrust.system() : ServerTrust.pinned(ca);
      const me = await new ApiClient(server, token, trust).whoami();
      const file = await saveLogin({ server, token, ca });
      process.stdout.write(
        `Logged in to ${server} as ${me.name} (role ${me.role}); server ${me.serverVersion}. Saved to ${file}\n`,
      );
    });
}

/** A join string from a file, stdin (`-`), or FERRY_JOIN. */
async function readJoinText(file: string | undefined): Promise<string> {
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }
  if (file !== undefined) {
    try {
      return await readFile(file, 'utf8');
    } catch (err) {
      throw new FerryError(
        'E_JOIN_INVALID',
        `--join ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
  }
  const text = setting(process.env, 'FERRY_JOIN');
  if (text === undefined) {
    throw new FerryError(
      'E_JOIN_INVALID',
      '--join needs a file, - for stdin, or the join string in FERRY_JOIN',
    );
  }
  return text;
}
