import { useMemo, useState } from 'preact/hooks';
import { api } from '../api/ferry-api.js';
import { useResource } from '../api/use-resource.js';
import { ErrorBox } from '../components/error-box.js';
import { HostsTable } from '../components/hosts-table.js';
import { useTitle } from '../components/use-title.js';
import { driftMarks, driftText, filterHosts, hostRows } from '../lib/hosts-model.js';
import type { PageProps } from '../router/page-route.js';

/**
 * Every host: environment, roles, connection, last seen, what it runs, its
 * key facts, and the values in which it drifts from the others of its
 * environment, marked; filtered by environment, role and words (kept in the
 * address: `?env=qa&role=web&q=…`). Fetched again, debounced, as hosts come
 * and go, report facts, or install.
 */
export function HostsPage({ search }: PageProps<'/hosts'>) {
  useTitle('Hosts');
  const initial = new URLSearchParams(search);
  const [env, setEnv] = useState(initial.get('env') ?? '');
  const [role, setRole] = useState(initial.get('role') ?? '');
  const [text, setText] = useState(initial.get('q') ?? '');

  const hostKinds = { kinds: ['host.connected', 'host.disconnected', 'host.facts'] } as const;
  // A thousand hosts report changing facts (load, free memory) all the time: the
  // lists are fetched again at most every few seconds, not on each report.
  const hosts = useResource((signal) => api.call('hosts', {}, { signal }), [], {
    events: { kinds: [...hostKinds.kinds] },
    debounceMs: 3000,
  });
  const status = useResource((signal) => api.call('status', {}, { signal }), [], {
    events: [
      { kinds: ['install.state', 'deployment.state', 'host.health'] },
      { kinds: [...hostKinds.kinds] },
    ],
    debounceMs: 3000,
  });
  const drift = useResource((signal) => api.call('drift', {}, { signal }), [], {
    events: [{ kinds: ['install.state'] }, { kinds: ['host.facts'] }],
    debounceMs: 5000,
  });
  const envs = useResource((signal) => api.call('environments', {}, { signal }), []);

  const rows = useMemo(
    () => hostRows(hosts.data?.hosts ?? [], status.data?.apps ?? []),
    [hosts.data, status.data],
  );
  const marks = useMemo(() => driftMarks(drift.data?.drift ?? []), [drift.data]);
  const shown = filterHosts(rows, { env, role, text });
  const envNames = envs.data?.environments.map((e) => e.name) ?? [
    ...new Set(rows.map((r) => r.host.env)),
  ];
  const roles = [...new Set(rows.flatMap((r) => r.host.roles))].sort();
  const driftShown = (drift.data?.drift ?? []).filter((d) => !env || d.env === env);

  const keep = (next: { env?: string; role?: string; q?: string }) => {
    const query = new URLSearchParams();
    const values = { env, role, q: text, ...next };
    for (const [key, value] of Object.entries(values)) if (value) query.set(key, value);
    const qs = query.toString();
    history.replaceState(null, '', `${location.pathname}${qs ? `?${qs}` : ''}`);
  };

  return (
    <>
      <h1>Hosts</h1>
      {hosts.error !== undefined && <ErrorBox error={hosts.error} />}
      {status.error !== undefined && <ErrorBox error={status.error} title="What runs where:" />}
      {drift.error !== undefined && <ErrorBox error={drift.error} title="Drift:" />}
      <div class="filters" role="search" aria-label="Filter hosts">
        <FilterSelect
          label="Environment"
          value={env}
          choices={envNames}
          onChoose={(value) => {
            setEnv(value);
            keep({ env: value });
          }}
        />
        <FilterSelect
          label="Role"
          value={role}
          choices={roles}
          onChoose={(value) => {
            setRole(value);
            keep({ role: value });
          }}
        />
        <label>
          Search
          <input
            type="search"
            value={text}
            placeholder="name, OS, app@version"
            onInput={(event) => {
              setText(event.currentTarget.value);
              keep({ q: event.currentTarget.value });
            }}
          />
        </label>
        <p class="muted" aria-live="polite" data-testid="hosts-count">
          {hosts.data === undefined
            ? 'Loading…'
            : `${shown.length} of ${rows.length} host${rows.length === 1 ? '' : 's'}`}
        </p>
      </div>
      {driftShown.length > 0 && (
        <section class="panel" aria-labelledby="drift-title" data-testid="drift">
          <h2 id="drift-title">
            <span aria-hidden="true">≠</span> Drift
          </h2>
          <ul class="drift-list">
            {driftShown.map((d, index) => (
              <li key={index}>{driftText(d)}</li>
            ))}
          </ul>
        </section>
      )}
      {hosts.data !== undefined && <HostsTable rows={shown} marks={marks} />}
    </>
  );
}

/** A filter's choice among names, or "all" (the empty value). */
function FilterSelect({
  label,
  value,
  choices,
  onChoose,
}: {
  label: string;
  value: string;
  choices: readonly string[];
  onChoose: (value: string) => void;
}) {
  return (
    <label>
      {label}
      <select value={value} onChange={(event) => onChoose(event.currentTarget.value)}>
        <option value="">all</option>
        {choices.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}
