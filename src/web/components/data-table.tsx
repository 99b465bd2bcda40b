import type { ComponentChildren } from 'preact';

/**
 * A table in its scrolling frame (narrow screens scroll the table, not the
 * page), with a heading per column; the rows come as children.
 *
 * @example
 *   <DataTable columns={['Host', 'Installs']} testId="report-hosts">
 *     {hosts.map((h) => <tr key={h.id}>…</tr>)}
 *   </DataTable>
 */
export function DataTable({
  columns,
  testId,
  class: className,
  labelledBy,
  children,
}: {
  /** The column headings, in order; each names its column, so each is unique. */
  columns: readonly string[];
  testId?: string;
  class?: string;
  labelledBy?: string;
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table class={className} data-testid={testId} aria-labelledby={labelledBy}>
        <thead>
          <tr>
            {columns.map((column) => (
              <th scope="col" key={column}>
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
