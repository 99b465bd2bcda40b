import type { Command } from 'commander';
import { FerryError } from '../../protocol/errors.js';
import { ApiClient } from '../api-client.js';
import { DEFAULT_SERVER, type GlobalOptions, setting } from '../cli-context.js';
import { saveLogin } from '../credentials.js';

/** `ferry login`: checks a token against a server and saves both for later commands. */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description(
      'check a server URL and token, and save them (mode 0600) for the commands that follow',
    )
    .addHelpText(
      'after',
      '\nExample:\n  ferry login --server https://ferry.example.com --token "$(cat admin-token)"',
    )
    .action(async (_options: unknown, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const server = globals.server ?? setting(process.env, 'FERRY_SERVER') ?? DEFAULT_SERVER;
      const token = globals.token ?? setting(process.env, 'FERRY_TOKEN');
      if (!token)
        throw new FerryError(
          'E_AUTH_REQUIRED',
          'ferry login needs a token: --token T or FERRY_TOKEN',
        );
      const me = await new ApiClient(server, token).whoami();
      const file = await saveLogin({ server, token });
      process.stdout.write(
        `Logged in to ${server} as ${me.name} (role ${me.role}); server ${me.serverVersion}. Saved to ${file}\n`,
      );
    });
}
