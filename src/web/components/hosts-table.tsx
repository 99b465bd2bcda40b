import type { ComponentChildren } from 'preact';
import { type DriftMark, factSummary, type HostRow } from '../lib/hosts-model.js';
import { ServiceHealthBadge } from './service-health-badge.js';
import { RelTime } from './rel-time.js';
import { StateBadge } from './state-badge.js';
import { DataTable } from './data-table.js';

/**
 * The hosts as a table: one row each, with what it runs and its key facts;
 * a value in which the host drifts from its environment is marked with a sign,
 * a word for screen readers and the whole difference in its title.
 */
export function HostsTable({
  rows,
  marks,
}: {
  rows: readonly HostRow[];
  marks: ReadonlyMap<string, ReadonlyMap<string, DriftMark>>;
}) {
  if (rows.length === 0) return <p class="muted">No host matches.</p>;
  return (
    <DataTable
      columns={[
        'Host',
        'Environment',
        'Roles',
        'Connection',
        'Last seen',
        'Runs',
        'OS',
        'node',
        'python',
        'Disk',
        'Memory',
        'Load',
      ]}
      testId="hosts-table"
      class="hosts-table"
    >
      {rows.map((row) => (
        <HostLine
          key={row.host.id}
          row={row}
          marks={marks.get(`${row.host.env}/${row.host.name}`)}
        />
      ))}
    </DataTable>
  );
}

function HostLine({
  row,
  marks,
}: {
  row: HostRow;
  marks: ReadonlyMap<string, DriftMark> | undefined;
}) {
  const { host, apps } = row;
  const facts = factSummary(host.facts);
  const cell = (field: string, value: string) => (
    <DriftCell field={field} mark={marks?.get(field)}>
      {value}
    </DriftCell>
  );
  return (
    <tr data-testid="host-row" data-host={host.name}>
      <th scope="row">
        <a href={`/hosts/${encodeURIComponent(host.name)}`}>{host.name}</a>
        {host.revokedAt !== null && <span class="muted"> (revoked)</span>}
      </th>
      <td>{host.env}</td>
      <td>{host.roles.join(', ')}</td>
      <td>
        <StateBadge
          state={host.connected ? 'connected' : 'away'}
          label={host.connected ? 'connected' : 'away'}
        />
      </td>
      <td>
        <RelTime at={host.lastSeenAt} />
      </td>
      <td>
        {apps.length === 0 ? (
          <span class="muted">—</span>
        ) : (
          <ul class="host-apps">
            {apps.map((app) => (
              <DriftCell
                key={app.app}
                field={`release:${app.app}`}
                mark={marks?.get(`release:${app.app}`)}
                as="li"
              >
                {app.app}@{app.version ?? '—'}
                {app.desired !== null && app.version !== app.desired && (
                  <span class="muted"> (desired {app.desired})</span>
                )}{' '}
                {app.health !== 'unknown' && app.service === null && (
                  <StateBadge state={app.health} />
                )}
                {app.service !== null && <ServiceHealthBadge service={app.service} />}
              </DriftCell>
            ))}
          </ul>
        )}
      </td>
      {cell('os', facts.os)}
      {cell('runtime:node', facts.node)}
      {cell('runtime:python3', facts.python)}
      <td>{facts.disk}</td>
      <td>{facts.memory}</td>
      <td>{facts.load}</td>
    </tr>
  );
}

/**
 * A value that may drift: an odd one out gets the `drift-odd` class, a sign
 * (≠) and the words "differs:" for those who cannot see the colour; any value
 * in a drift carries the whole difference in its title.
 */
function DriftCell({
  field,
  mark,
  children,
  as = 'td',
}: {
  field: string;
  mark: DriftMark | undefined;
  children: ComponentChildren;
  as?: 'td' | 'li';
}) {
  const Tag = as;
  if (!mark) return <Tag data-field={field}>{children}</Tag>;
  return (
    <Tag
      data-field={field}
      data-drift={mark.odd ? 'odd' : 'common'}
      class={mark.odd ? 'drift-odd' : undefined}
      title={mark.text}
    >
      {mark.odd && (
        <>
          <span class="drift-sign" aria-hidden="true">
            ≠
          </span>
          <span class="visually-hidden">differs: </span>
        </>
      )}
      {children}
    </Tag>
  );
}
