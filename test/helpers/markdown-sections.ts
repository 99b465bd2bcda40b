/**
 * Reading a rendered Markdown report by its headings, as a person scans it:
 * a finding is the section under its `###` heading, a host's installs the
 * section under its `####` heading.
 *
 * @example
 *   sections(section(md, 2, 'Findings'), 3).filter((f) => f.includes('qa-2'));
 */

/** The parts of a Markdown text that each begin with a heading of `level` (`### `), heading included. */
export function sections(text: string, level: number): string[] {
  const mark = `${'#'.repeat(level)} `;
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith(mark)) out.push(line);
    else if (out.length > 0) out[out.length - 1] += `\n${line}`;
  }
  return out;
}

/** The section of a Markdown text under the heading of `level` whose title is `title`; '' when none. */
export function section(text: string, level: number, title: string): string {
  return (
    sections(text, level).find((s) => s.split('\n')[0] === `${'#'.repeat(level)} ${title}`) ?? ''
  );
}
