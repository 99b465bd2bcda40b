import { VARIABLE_REFERENCE as REFERENCE } from '../../bundle/variable-references.js';
import { FerryError } from '../../protocol/errors.js';

export { referencesIn } from '../../bundle/variable-references.js';

/**
 * Fills every `${NAME}` in the strings of a value (deeply) from `vars`. A name
 * with no value is an error that names each missing variable, before anything
 * has been touched.
 *
 * @example
 *   fillVariables({ http: 'http://127.0.0.1:${PORT}/health' }, { PORT: '8080' })
 */
export function fillVariables<T>(value: T, vars: Record<string, string>): T {
  const missing = new Set<string>();
  const fill = (node: unknown): unknown => {
    if (typeof node === 'string') {
      return node.replace(REFERENCE, (whole, name: string) => {
        const found = vars[name];
        if (found === undefined) missing.add(name);
        return found ?? whole;
      });
    }
    if (Array.isArray(node)) return node.map(fill);
    if (node && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, fill(v)]));
    }
    return node;
  };
  const filled = fill(value) as T;
  if (missing.size > 0) {
    const names = [...missing].sort();
    throw new FerryError(
      'E_VARIABLE_MISSING',
      `The manifest uses ${names.map((n) => `\${${n}}`).join(', ')}, which this host does not define`,
      { variables: names },
    );
  }
  return filled;
}
