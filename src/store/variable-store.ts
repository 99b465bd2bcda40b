/**
 * Where a variable applies: everywhere, or one environment, role or host (by
 * name); and with `app`, only to that app there (absent: to every app).
 */
export type VariableScope = (
  { kind: 'global' } | { kind: 'env' | 'role' | 'host'; value: string }
) & {
  app?: string;
};

/** A variable as the store keeps it, secret values included: never send this to a client. */
export interface StoredVariable {
  name: string;
  scope: VariableScope;
  value: string;
  secret: boolean;
  updatedAt: string;
  updatedBy: string;
}

/**
 * The variables set on the server, one per name and scope, secret values
 * sealed at rest; what a host gets is resolved from them.
 *
 * @example
 *   await store.variables.set({ name: 'REDIS_HOST', scope: { kind: 'env', value: 'qa' },
 *     value: 'redis.qa', secret: false, updatedAt: now, updatedBy: 'alice' });
 *   const inQa = await store.variables.list({ scopes: [{ kind: 'env', value: 'qa' }] });
 */
export interface VariableStore {
  /** Sets a variable in its scope, replacing the one there; `created` is false when it replaced one. */
  set(variable: StoredVariable): Promise<{ created: boolean }>;
  get(name: string, scope: VariableScope): Promise<StoredVariable | undefined>;
  /** Removes a variable from its scope; false when there was none. */
  unset(name: string, scope: VariableScope): Promise<boolean>;
  /**
   * Variables by name then scope: all of them, or those in any of `scopes` (of
   * any app). With `app`, only those for every app or for that one.
   */
  list(options?: { scopes?: VariableScope[]; app?: string }): Promise<StoredVariable[]>;
}
