/**
 * The store's environments, in lifecycle order. The configuration names them;
 * the store keeps them so that hosts enrolled in one that is no longer named
 * still belong somewhere.
 *
 * @example
 *   const { kept } = await store.environments.sync(['dev', 'qa', 'prod']);
 *   await store.environments.list(); // ['dev', 'qa', 'prod', ...kept]
 */
export interface EnvironmentStore {
  /** Environment names in lifecycle order (`dev`, `qa`, `prod` by default). */
  list(): Promise<string[]>;
  /**
   * Makes the stored environments those named, in this order. One no longer
   * named is removed unless hosts are enrolled in it; those are returned.
   */
  sync(names: string[]): Promise<{ kept: string[] }>;
}
