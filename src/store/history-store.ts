/**
 * One line of history that no other record holds: who did what, when. `detail`
 * says what in words (a variable's name and scope, never its value).
 */
export interface HistoryEvent {
  id: string;
  at: string;
  by: string;
  type: 'cancel' | 'variable' | 'host' | 'token' | 'note' | 'action' | 'report';
  app: string | null;
  version: number | null;
  env: string | null;
  detail: string;
  deploymentId: string | null;
}

/**
 * The history of changes that no other record tells: cancels, variables set,
 * hosts removed, tokens made, notes and actions added, edited and done. Read with the deployments and verdicts for an
 * app's whole story.
 *
 * @example
 *   await store.history.record({ id, at, by: 'alice', type: 'token', app: null,
 *     version: null, env: null, detail: 'made token ci (deployer)', deploymentId: null });
 *   const latest = await store.history.list({ limit: 50 });
 */
export interface HistoryStore {
  /**
   * Records a change that has no record of its own to tell it (a cancel, a
   * variable set, a token made). An event whose id is recorded already is not
   * recorded again: a writer that may repeat itself gives an id of its own.
   */
  record(event: HistoryEvent): Promise<void>;

  /**
   * History events, newest first: those of `app`, or all of them (variables,
   * hosts, tokens too); only of `type`, and of one of `deploymentIds`, when given.
   */
  list(query: {
    app?: string;
    limit: number;
    type?: HistoryEvent['type'];
    deploymentIds?: readonly string[];
  }): Promise<HistoryEvent[]>;
}
