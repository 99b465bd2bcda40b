/**
 * `${NAME}` references in a manifest section. The server checks them before a
 * deployment touches any host; the agent fills them on the host. Both read this
 * one definition, so they agree on what a reference is.
 */

/** A `${NAME}` reference; the first group is the name. Global: use with `matchAll` or `replace`. */
export const VARIABLE_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** The names of the `${NAME}` references in a text, in order, repeats included. */
export function referencesIn(text: string): string[] {
  return [...text.matchAll(VARIABLE_REFERENCE)].map((m) => m[1]!);
}

/**
 * Every name referenced in the strings of a value, deeply (keys are not filled,
 * so they are not scanned), sorted and without repeats.
 *
 * @example
 *   referencedVariables({ health: { http: 'http://${HOST}:${PORT}/' }, install: ['echo ${PORT}'] })
 *   // → ['HOST', 'PORT']
 */
export function referencedVariables(value: unknown): string[] {
  const names = new Set<string>();
  const visit = (node: unknown): void => {
    if (typeof node === 'string') for (const name of referencesIn(node)) names.add(name);
    else if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') Object.values(node).forEach(visit);
  };
  visit(value);
  return [...names].sort();
}

/** A `${NAME}` reference in a command line of a manifest section, and which command it is in. */
export interface CommandReference {
  variable: string;
  /** Where in the section, such as `service.command`, `install[0]` or `hooks.beforeStart[1]`. */
  where: string;
}

/**
 * The `${NAME}` references in the command lines of an app's manifest section:
 * `service.command`, `install`, `migrate`, every hook and a health `command`.
 * Filled in, they become part of a process's arguments, which every local user
 * can read (`ps`, `/proc/<pid>/cmdline`); `service.env` and the environment of
 * commands are not.
 *
 * @example
 *   commandReferences({ service: { command: 'node s.js --key ${KEY}' } })
 *   // → [{ variable: 'KEY', where: 'service.command' }]
 */
export function commandReferences(section: Record<string, unknown>): CommandReference[] {
  const found: CommandReference[] = [];
  const scan = (where: string, value: unknown) => {
    if (typeof value === 'string') {
      for (const variable of new Set(referencesIn(value))) found.push({ variable, where });
    } else if (Array.isArray(value)) {
      value.forEach((item, i) => scan(`${where}[${i}]`, item));
    }
  };
  const field = (node: unknown, key: string): unknown =>
    node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  scan('service.command', field(section.service, 'command'));
  scan('install', section.install);
  scan('migrate', section.migrate);
  scan('health.command', field(section.health, 'command'));
  const hooks = section.hooks;
  if (hooks && typeof hooks === 'object') {
    for (const [name, commands] of Object.entries(hooks)) scan(`hooks.${name}`, commands);
  }
  return found;
}
