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
