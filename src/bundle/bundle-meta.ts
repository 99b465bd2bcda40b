import { z } from 'zod';
import { commitSchema, FIELD_LIMITS, labelSchema, roleNameSchema } from '../protocol/fields.js';
import { appManifestSchema, appNameSchema } from './manifest-schema.js';

/** The name of the metadata file at the root of every bundle, and its first entry. */
export const BUNDLE_META_FILE = 'ferry-bundle.json';

/** The format version written by this Ferry; readers refuse newer ones. */
export const BUNDLE_FORMAT = 1;

const entryPath = z.string().min(1).max(FIELD_LIMITS.path);
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'expected a sha256 in hex' });

/** One entry of a bundle as its metadata lists it. */
export const bundleFileSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('file'),
    path: entryPath,
    size: z.int().min(0),
    mode: z.int().min(0).max(0o777),
    sha256: sha256Hex,
  }),
  z.strictObject({
    type: z.literal('symlink'),
    path: entryPath,
    target: entryPath,
  }),
]);

/**
 * `ferry-bundle.json`: what a bundle is, where it came from, and every file it holds.
 * Every string is bounded (see `FIELD_LIMITS`): what is recorded from it — label,
 * commit, the app's manifest section — stays small whatever the file holds.
 */
export const bundleMetaSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT, { error: `expected format ${BUNDLE_FORMAT}` }),
  app: appNameSchema,
  label: labelSchema.nullable(),
  git: z.strictObject({ commit: commitSchema.nullable(), dirty: z.boolean().nullable() }),
  createdAt: z.iso.datetime().max(40),
  manifest: z.strictObject({
    apps: z.record(appNameSchema, appManifestSchema.extend({ role: roleNameSchema })),
  }),
  files: z.array(bundleFileSchema),
});

export type BundleFile = z.infer<typeof bundleFileSchema>;
export type BundleMeta = z.infer<typeof bundleMetaSchema>;
