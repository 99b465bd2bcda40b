import type { HostRecord } from '../protocol/api.js';
import type { FactsSample, HostFacts } from '../protocol/host-facts.js';

export interface NewHost {
  id: string;
  name: string;
  env: string;
  roles: string[];
  vars: Record<string, string>;
}

/** How much of a host's facts history is kept: at most `keep` samples, none older than `since`. */
export interface FactsRetention {
  keep: number;
  since: string;
}

/**
 * The store's hosts: their enrolment, presence and facts (the latest on the
 * host's record, and a bounded history of samples).
 *
 * @example
 *   const host = await store.hosts.findByName('web-1');
 *   if (host) await store.hosts.setPresence(host.id, true, new Date().toISOString());
 */
export interface HostStore {
  create(host: NewHost): Promise<HostRecord>;
  get(id: string): Promise<HostRecord | undefined>;
  /** A host that is not removed, by name. */
  findByName(name: string): Promise<HostRecord | undefined>;
  /**
   * Hosts not removed, by environment then name; with `ids`, only those of
   * them (a rollout reads its own hosts, not every host there is). With
   * `facts: false`, each record's facts are null (not read nor parsed): for
   * those that count hosts or look at their presence. With `facts: 'shared'`,
   * a host's facts are one frozen object for every such read until they
   * change (read through their schema once per change): for those that only
   * look at them, often (`status`); a caller that would change them gets a
   * TypeError. Otherwise each read gives facts of the caller's own.
   */
  list(options?: {
    env?: string;
    ids?: readonly string[];
    facts?: boolean | 'shared';
  }): Promise<HostRecord[]>;
  /** Cuts a host off: marks it revoked, and revokes every token of its own. */
  cutOff(id: string, at: string): Promise<void>;
  /**
   * `ferry hosts remove`: cuts the host off and takes it out of the lists; its
   * record stays for the history, under a name that frees the one it had.
   * False when there is no such host (or it was removed already).
   */
  remove(id: string, at: string): Promise<boolean>;
  /** The ids of hosts cut off (their token revoked, or removed). */
  cutOffIds(): Promise<string[]>;
  setPresence(id: string, connected: boolean, at: string): Promise<void>;
  /** Marks every host disconnected: on start, no connection survives from before. */
  resetPresence(): Promise<void>;
  /** Keeps a host's latest facts on its record (and that it was seen at `at`). */
  setFacts(id: string, facts: HostFacts, at: string): Promise<void>;
  /** Adds a sample to a host's facts history, and prunes the history to `retention`. */
  addFactsSample(hostId: string, sample: FactsSample, retention: FactsRetention): Promise<void>;
  /** A host's facts history, newest first. */
  listFactsSamples(hostId: string, options?: { limit?: number }): Promise<FactsSample[]>;
}
