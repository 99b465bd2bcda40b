import type { FactsHistoryEntry, HostFacts } from '../../protocol/host-facts.js';
import { formatDuration } from '../lib/durations.js';
import { formatBytes } from '../lib/hosts-model.js';
import { RelTime } from './rel-time.js';
import { StateBadge } from './state-badge.js';
import { DataTable } from './data-table.js';

const dash = '—';
const orDash = (value: string | number | null | undefined) =>
  value === null || value === undefined || value === '' ? dash : String(value);

/** Every fact a host reported: machine, runtimes, disks, and per app its releases and service. */
export function HostFactsList({ facts }: { facts: HostFacts }) {
  const apps = Object.entries(facts.apps);
  return (
    <>
      <dl class="facts" data-testid="host-facts">
        <Fact term="OS" value={orDash(facts.os)} />
        <Fact term="Kernel" value={orDash(facts.kernel)} />
        <Fact term="Platform" value={`${orDash(facts.platform)} ${facts.arch ?? ''}`.trim()} />
        <Fact term="CPUs" value={orDash(facts.cpus)} />
        <Fact
          term="Memory"
          value={
            facts.memory?.totalBytes == null
              ? dash
              : `${facts.memory.freeBytes == null ? '' : `${formatBytes(facts.memory.freeBytes)} free of `}${formatBytes(facts.memory.totalBytes)}`
          }
        />
        <Fact
          term="Load"
          value={facts.load?.length ? facts.load.map((l) => l.toFixed(2)).join(' ') : dash}
        />
        <Fact term="node" value={orDash(facts.runtimes.node)} />
        <Fact term="npm" value={orDash(facts.runtimes.npm)} />
        <Fact term="python3" value={orDash(facts.runtimes.python3)} />
        <Fact term="pip" value={orDash(facts.runtimes.pip)} />
        <Fact term="Agent" value={orDash(facts.agentVersion)} />
        <Fact term="Hostname" value={orDash(facts.hostname)} />
        <Fact term="Busy with" value={orDash(facts.busy)} />
        <div>
          <dt>Reported</dt>
          <dd>
            <RelTime at={facts.collectedAt} />
          </dd>
        </div>
      </dl>
      {facts.disks.length > 0 && (
        <>
          <h3>Disks</h3>
          <ul>
            {facts.disks.map((disk) => (
              <li key={disk.mount}>
                <code>{disk.mount}</code>:{' '}
                {disk.freeBytes === null ? dash : `${formatBytes(disk.freeBytes)} free`}
                {disk.sizeBytes !== null && ` of ${formatBytes(disk.sizeBytes)}`}
              </li>
            ))}
          </ul>
        </>
      )}
      {apps.length > 0 && (
        <>
          <h3>Releases on disk</h3>
          <DataTable columns={['App', 'Current', 'Previous', 'Releases', 'Health', 'Service']}>
            {apps.map(([app, facts]) => (
              <tr key={app}>
                <th scope="row">{app}</th>
                <td>{orDash(facts.current)}</td>
                <td>{orDash(facts.previous)}</td>
                <td>{facts.releases.join(', ') || dash}</td>
                <td>{facts.health === null ? dash : <StateBadge state={facts.health} />}</td>
                <td>
                  {facts.service === null
                    ? dash
                    : facts.service.running
                      ? `running${facts.service.pid === null ? '' : `, pid ${facts.service.pid}`}${facts.service.uptimeSeconds === null ? '' : `, up ${formatDuration(facts.service.uptimeSeconds * 1000)}`}`
                      : 'not running'}
                </td>
              </tr>
            ))}
          </DataTable>
        </>
      )}
    </>
  );
}

function Fact({ term, value }: { term: string; value: string }) {
  return (
    <div>
      <dt>{term}</dt>
      <dd>{value}</dd>
    </div>
  );
}

/**
 * The samples of a host's facts, newest first, each with what changed since
 * the one before (`runtimes.node: 20.10.0 → 20.11.1`); the oldest kept lists
 * every fact, folded away.
 */
export function FactsHistory({ history }: { history: readonly FactsHistoryEntry[] }) {
  if (history.length === 0) return <p class="muted">No sample kept.</p>;
  return (
    <ol class="facts-history" data-testid="facts-history">
      {history.map((entry, index) => {
        const oldest = index === history.length - 1;
        const changes = (
          <ul class="fact-changes">
            {entry.changes.map((change) => (
              <li key={change.field}>
                <code>{change.field}</code>: {show(change.from)} → {show(change.to)}
              </li>
            ))}
          </ul>
        );
        return (
          <li key={entry.at}>
            <RelTime at={entry.at} />{' '}
            {entry.changes.length === 0 ? (
              <span class="muted">nothing changed</span>
            ) : oldest ? (
              <details>
                <summary>the oldest sample kept: {entry.changes.length} facts</summary>
                {changes}
              </details>
            ) : (
              changes
            )}
          </li>
        );
      })}
    </ol>
  );
}

function show(value: string | number | boolean | null): string {
  return value === null ? '(none)' : String(value);
}
