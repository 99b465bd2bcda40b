import type { Kysely, Selectable } from 'kysely';
import type { Database, VariablesTable } from '../schema.js';
import { keyMismatch, SecretBox } from '../secret-box.js';
import type { StoredVariable, VariableScope, VariableStore } from '../variable-store.js';
import { variableContext } from './kysely-secret-sealing.js';

/** Scopes from the widest to the narrowest, the order listings show them in. */
const SCOPE_ORDER = ['global', 'env', 'role', 'host'] as const;

/**
 * `VariableStore` over Kysely, written once for every dialect: one row per
 * name and scope. With a `SecretBox`, a secret's
 * value is sealed before it is written and opened when it is read.
 */
export class KyselyVariableStore implements VariableStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly box: SecretBox | undefined,
  ) {}

  async set(variable: StoredVariable): Promise<{ created: boolean }> {
    const key = scopeColumns(variable.scope);
    return this.db.transaction().execute(async (trx) => {
      const existing = await trx
        .selectFrom('variables')
        .select('name')
        .where('name', '=', variable.name)
        .where('scope_kind', '=', key.scope_kind)
        .where('scope_value', '=', key.scope_value)
        .where('app', '=', key.app)
        .executeTakeFirst();
      const values = {
        value:
          variable.secret && this.box
            ? this.box.seal(variable.value, variableContext({ name: variable.name, ...key }))
            : variable.value,
        secret: Number(variable.secret),
        updated_at: variable.updatedAt,
        updated_by: variable.updatedBy,
      };
      await trx
        .insertInto('variables')
        .values({ name: variable.name, ...key, ...values })
        .onConflict((oc) =>
          oc.columns(['name', 'scope_kind', 'scope_value', 'app']).doUpdateSet(values),
        )
        .execute();
      return { created: existing === undefined };
    });
  }

  async get(name: string, scope: VariableScope): Promise<StoredVariable | undefined> {
    const key = scopeColumns(scope);
    const row = await this.db
      .selectFrom('variables')
      .selectAll()
      .where('name', '=', name)
      .where('scope_kind', '=', key.scope_kind)
      .where('scope_value', '=', key.scope_value)
      .where('app', '=', key.app)
      .executeTakeFirst();
    return row && this.toStoredVariable(row);
  }

  async unset(name: string, scope: VariableScope): Promise<boolean> {
    const key = scopeColumns(scope);
    const result = await this.db
      .deleteFrom('variables')
      .where('name', '=', name)
      .where('scope_kind', '=', key.scope_kind)
      .where('scope_value', '=', key.scope_value)
      .where('app', '=', key.app)
      .executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  async list(options: { scopes?: VariableScope[]; app?: string } = {}): Promise<StoredVariable[]> {
    const { scopes, app } = options;
    if (scopes?.length === 0) return [];
    let query = this.db.selectFrom('variables').selectAll();
    if (app !== undefined) query = query.where('app', 'in', ['', app]);
    if (scopes) {
      // One `in (…)` per kind (and piece of 500 values), not one term per
      // scope: SQLite refuses an expression deeper than 1,000 terms, and the
      // scopes of a thousand hosts are more than that.
      const valuesByKind = new Map<string, Set<string>>();
      for (const key of scopes.map(scopeColumns)) {
        const values = valuesByKind.get(key.scope_kind) ?? new Set<string>();
        values.add(key.scope_value);
        valuesByKind.set(key.scope_kind, values);
      }
      query = query.where((eb) =>
        eb.or(
          [...valuesByKind].flatMap(([kind, values]) =>
            chunks([...values]).map((piece) =>
              eb.and([eb('scope_kind', '=', kind), eb('scope_value', 'in', piece)]),
            ),
          ),
        ),
      );
    }
    const rows = await query.orderBy('name').orderBy('scope_value').orderBy('app').execute();
    const rank = (v: StoredVariable) => SCOPE_ORDER.indexOf(v.scope.kind);
    // Array.prototype.sort is stable, so the name order of the query stays within a rank.
    return rows
      .map((row) => this.toStoredVariable(row))
      .sort((a, b) => (a.name === b.name ? rank(a) - rank(b) : a.name < b.name ? -1 : 1));
  }

  private toStoredVariable(row: Selectable<VariablesTable>): StoredVariable {
    const kind = row.scope_kind as VariableScope['kind'];
    const app = row.app === '' ? {} : { app: row.app };
    return {
      name: row.name,
      scope: kind === 'global' ? { kind, ...app } : { kind, value: row.scope_value, ...app },
      // Only a secret is ever sealed: a plain value that merely looks sealed is read as it is.
      value: row.secret ? this.opened(row.value, variableContext(row)) : row.value,
      secret: Boolean(row.secret),
      updatedAt: row.updated_at,
      updatedBy: row.updated_by,
    };
  }

  /** A stored value in the clear: opened when sealed, as it is when plaintext (from before sealing). */
  private opened(value: string, context: string): string {
    if (!SecretBox.isSealed(value)) return value;
    if (!this.box) throw keyMismatch(SecretBox.sealedWith(value), null);
    return this.box.open(value, context);
  }
}

function scopeColumns(scope: VariableScope): {
  scope_kind: string;
  scope_value: string;
  app: string;
} {
  const app = scope.app ?? '';
  return scope.kind === 'global'
    ? { scope_kind: 'global', scope_value: '', app }
    : { scope_kind: scope.kind, scope_value: scope.value, app };
}

/** Values in pieces small enough for one `in (…)` on every dialect (SQLite binds at most 32766). */
function chunks<T>(items: readonly T[], size = 500): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
