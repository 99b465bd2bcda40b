import { type Command, Option } from 'commander';
import { bundleRefSchema } from '../../protocol/api.js';
import { FerryError } from '../../protocol/errors.js';
import { labelSchema } from '../../protocol/fields.js';
import type { Report, ReportQuery } from '../../protocol/report-api.js';
import { renderHtml } from '../../report/render-html.js';
import { renderMarkdown } from '../../report/render-markdown.js';
import { renderTerminal } from '../../report/render-terminal.js';
import { connect, type GlobalOptions } from '../cli-context.js';
import { printJson } from '../output.js';
import { parseArg } from '../parse-arg.js';

/** The forms a report is printed in besides JSON. */
export const REPORT_FORMATS = ['terminal', 'md', 'html'] as const;
type ReportFormat = (typeof REPORT_FORMATS)[number];

/** The renderer of each form (src/report/); each says what the JSON says. */
const RENDERERS: Record<ReportFormat, (report: Report) => string> = {
  // Colour only for a person at a terminal, and not when they asked for none.
  terminal: (report) =>
    renderTerminal(report, {
      color: Boolean(process.stdout.isTTY) && (process.env.NO_COLOR ?? '') === '',
    }),
  md: renderMarkdown,
  html: renderHtml,
};

/** `ferry report <app>@<version> | --label L [--format terminal|md|html] [--json]`. */
export function registerReport(program: Command): void {
  program
    .command('report [bundle]')
    .description(
      'the release report of a bundle (<app>@<version>) or a label (--label): what went where, what failed and why, findings, notes',
    )
    .option('--label <label>', 'the report of every bundle pushed with this label, across apps')
    .addOption(
      new Option('--format <format>', 'terminal (the default), md (Markdown) or html (one page)')
        .choices(REPORT_FORMATS)
        .default('terminal'),
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  ferry report cart@12\n  ferry report --label 0.4.0 --format md > report.md',
    )
    .action(
      async (
        ref: string | undefined,
        options: { label?: string; format: ReportFormat },
        command: Command,
      ) => {
        const globals = command.optsWithGlobals<GlobalOptions>();
        const query = reportQuery(ref, options.label);
        const render = globals.json ? undefined : RENDERERS[options.format];
        const api = await connect(globals);
        const report = await api.client.call('report', { query });
        if (render === undefined) printJson(report);
        else process.stdout.write(render(report));
      },
    );
}

/** A bundle or a label, exactly one of them. */
function reportQuery(ref: string | undefined, label: string | undefined): ReportQuery {
  if ((ref === undefined) === (label === undefined)) {
    throw new FerryError(
      'E_BAD_REQUEST',
      'Give a bundle (ferry report cart@12) or a label (ferry report --label 0.4.0), one of them',
    );
  }
  if (label !== undefined) return { label: parseArg(labelSchema, label, '--label') };
  const { app, version } = parseArg(bundleRefSchema, ref, 'bundle');
  return { app, version };
}
