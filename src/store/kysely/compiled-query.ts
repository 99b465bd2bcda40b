import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/** Marks where a value goes in a query compiled once; see `CompiledOnce`. */
const SLOT = Symbol('compiled-query slot');

interface Slot {
  readonly [SLOT]: string;
}

function isSlot(value: unknown): value is Slot {
  return typeof value === 'object' && value !== null && SLOT in value;
}

/** Stands for the value named `name` in a query built by `CompiledOnce`. */
export type SlotOf<P> = <K extends keyof P & string>(name: K) => P[K];

/**
 * A hot query that Kysely builds and compiles once per database, then runs
 * with new values. Kysely builds a query's tree, freezes it and compiles it
 * to SQL in JavaScript on every call: with a thousand hosts reporting their
 * steps, building and compiling was about a quarter of the server's CPU, for
 * a few queries that differ only in their values.
 *
 * `build` is called once per database (and its transactions), with `slot(name)`
 * where a value goes; it must give the same SQL for any values — no branch on
 * them, no list whose length varies (`in` over a constant list is fine: its
 * values stay as they were compiled). Each run puts the values in the slots'
 * places among the compiled parameters. Only for queries over a `Kysely`
 * without plugins that rewrite results per query (the store has none), and
 * never through `withSchema` or `withPlugin` copies: they share the cache of
 * the database they came from, and would run the SQL compiled first.
 *
 * @example
 *   const byId = new CompiledOnce<Database, { id: string }, Row>((db, slot) =>
 *     db.selectFrom('installs').selectAll().where('id', '=', slot('id')),
 *   );
 *   const { rows } = await byId.execute(db, { id });
 */
export class CompiledOnce<DB, P extends Record<string, unknown>, R> {
  /** Per database adapter (a Kysely instance and its transactions share one): the SQL differs by dialect. */
  private readonly compiled = new WeakMap<object, CompiledQuery<R>>();

  constructor(private readonly build: (db: Kysely<DB>, slot: SlotOf<P>) => Compilable<R>) {}

  async execute(db: Kysely<DB>, values: P): Promise<QueryResult<R>> {
    const query = this.compiledFor(db);
    const parameters = query.parameters.map((parameter) =>
      isSlot(parameter) ? values[parameter[SLOT]] : parameter,
    );
    return db.executeQuery<R>({ ...query, parameters });
  }

  private compiledFor(db: Kysely<DB>): CompiledQuery<R> {
    const key = db.getExecutor().adapter;
    let query = this.compiled.get(key);
    if (query === undefined) {
      const slot = ((name: string): Slot => ({ [SLOT]: name })) as unknown as SlotOf<P>;
      query = this.build(db, slot).compile();
      this.compiled.set(key, query);
    }
    return query;
  }
}
