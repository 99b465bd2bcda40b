import type { Command } from 'commander';
import { type AuditEntry, auditQuerySchema, auditTargetText } from '../../protocol/audit-api.js';
import { FerryError } from '../../protocol/errors.js';
import { countTextSchema } from '../../protocol/fields.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson, printTable } from '../output.js';
import { parseArg } from '../parse-arg.js';

interface AuditOptions {
  since?: string;
  who?: string;
  limit?: string;
}

/** `30m`, `12h`, `7d`, `2w`: a time that long ago. */
const AGO = /^(\d{1,6})(m|h|d|w)$/;
const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
/** The longest span back: 100 years (a longer one would reach before the year 1, or nearly). */
const MAX_AGO_MS = 36_525 * 86_400_000;

/**
 * `--since`: an ISO 8601 time (`2026-12-01`, `2026-12-01T08:00:00Z`), or a
 * span of time back from now (`30m`, `12h`, `7d`, `2w`).
 *
 * @example
 *   sinceTime('2h', Date.parse('2026-12-01T10:00:00Z')); // '2026-12-01T08:00:00.000Z'
 */
export function sinceTime(text: string, now = Date.now()): string {
  const ago = AGO.exec(text);
  if (ago) {
    const span = Number(ago[1]) * UNIT_MS[ago[2] as keyof typeof UNIT_MS];
    if (span > MAX_AGO_MS) {
      throw new FerryError(
        'E_BAD_REQUEST',
        `Invalid --since "${text}": a span back from now is at most 100 years (36525d, 5217w)`,
      );
    }
    return new Date(now - span).toISOString();
  }
  return parseArg(auditQuerySchema.shape.since, text, '--since') ?? text;
}

/**
 * `ferry audit`: who changed what, from where, and how it ended — every
 * request but a read, refusals included, the newest last (admin only).
 */
export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description(
      'the audit log (admin): every request that changed something or tried to, with who, from where, what and the outcome; oldest first, the newest last',
    )
    .option(
      '--since <time>',
      'only entries from this time on: an ISO 8601 time (2026-12-01, 2026-12-01T08:00:00Z) or a span back from now (30m, 12h, 7d, 2w)',
    )
    .option('--who <token>', "only one token's entries: its name or its id")
    .option('--limit <n>', 'at most the newest n entries (default 200, at most 10000)')
    .option('--json', 'print the entries as JSON')
    .action(async (options: AuditOptions, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const { entries, more } = await (
        await connect(globals)
      ).audit({
        ...(options.since === undefined ? {} : { since: sinceTime(options.since) }),
        ...(options.who === undefined ? {} : { who: options.who }),
        ...(options.limit === undefined
          ? {}
          : { limit: String(parseArg(countTextSchema(1, 10_000), options.limit, '--limit')) }),
      });
      // On stderr, so that the table or the JSON stays whole.
      if (more) {
        process.stderr.write(
          `showing the newest ${entries.length} entries of more; use --limit or --since\n`,
        );
      }
      if (globals.json) {
        printJson(entries);
        return;
      }
      printTable(
        entries,
        [
          ['AT', (e) => `${e.at.slice(0, 10)} ${e.at.slice(11, 19)}`],
          ['WHO', whoText],
          ['FROM', (e) => e.from],
          ['ACTION', (e) => e.action],
          ['TARGET', (e) => auditTargetText(e.target)],
          ['OUTCOME', outcomeText],
        ],
        '(no entries)',
      );
    });
}

/** `ok 201`, `E_FORBIDDEN 403`, `E_AUTH_REQUIRED 401 ×1999` for coalesced refusals. */
function outcomeText(entry: AuditEntry): string {
  const text = `${entry.outcome === 'ok' ? 'ok' : entry.outcome} ${entry.status}`;
  return entry.count > 1 ? `${text} ×${entry.count}` : text;
}

/** `alice (deployer)`, `alice (qa, session)`, or `-` when no token counted. */
function whoText(entry: AuditEntry): string {
  const who = entry.who;
  if (who === null) return '-';
  return `${who.name} (${who.role}${who.via === 'session' ? ', session' : ''})`;
}
