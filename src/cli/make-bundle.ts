import { manifestWarnings } from '../bundle/manifest.js';
import { createBundle, type CreatedBundle } from '../bundle/pack.js';
import { formatBytes, ProgressLine } from './progress.js';

/** Makes a bundle with progress on stderr, and warnings for what was left out and for what the manifest probably did not mean. */
export async function makeBundle(options: {
  sourceDir: string;
  app?: string | undefined;
  label?: string | undefined;
  out?: string | undefined;
  quiet?: boolean;
}): Promise<CreatedBundle> {
  const progress = new ProgressLine(process.stderr, options.quiet);
  try {
    const created = await createBundle({
      sourceDir: options.sourceDir,
      app: options.app,
      label: options.label,
      out: options.out,
      onProgress: ({ phase, done, total }) => {
        if (phase === 'scan') progress.update(`Scanning: ${done} files`);
        else
          progress.update(
            `${phase === 'hash' ? 'Hashing' : 'Writing'}: ${formatBytes(done)} / ${formatBytes(total)}`,
          );
      },
      onSkipped: ({ path, reason }) =>
        process.stderr.write(`warning: left out ${path}: ${reason}\n`),
    });
    progress.done(
      `Bundled ${created.meta.app}: ${created.meta.files.length} files, ${formatBytes(created.size)} compressed`,
    );
    for (const warning of manifestWarnings(
      created.meta.app,
      created.meta.manifest.apps[created.meta.app] ?? {},
    ))
      process.stderr.write(`warning: ${warning}\n`);
    return created;
  } catch (err) {
    progress.clear();
    throw err;
  }
}
