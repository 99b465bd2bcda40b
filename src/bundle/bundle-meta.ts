import { z } from 'zod';
import { appManifestSchema, appNameSchema } from './manifest-schema.js';

/** The name of the metadata file at the root of every bundle, and its first entry. */
export const BUNDLE_META_FILE = 'ferry-bundle.json';

/** The format version written by this Ferry; readers refuse newer ones. */
export const BUNDLE_FORMAT = 1;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, { error: 'expected a sha256 in hex' });

/** One entry of a bundle as its metadata lists it. */
export const bundleFileSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('file'),
    path: z.string().min(1),
    size: z.int().min(0),
    mode: z.int().min(0).max(0o777),
    sha256: sha256Hex,
  }),
  z.strictObject({
    type: z.literal('symlink'),
    path: z.string().min(1),
    target: z.string().min(1),
  }),
]);

/** `ferry-bundle.json`: what a bundle is, where it came from, and every file it holds. */
export const bundleMetaSchema = z.strictObject({
  format: z.literal(BUNDLE_FORMAT, { error: `expected format ${BUNDLE_FORMAT}` }),
  app: appNameSchema,
  label: z.string().max(200).nullable(),
  git: z.strictObject({ commit: z.string().nullable(), dirty: z.boolean().nullable() }),
  createdAt: z.iso.datetime(),
  manifest: z.strictObject({
    apps: z.record(z.string(), appManifestSchema.extend({ role: z.string().min(1) })),
  }),
  files: z.array(bundleFileSchema),
});

export type BundleFile = z.infer<typeof bundleFileSchema>;
export type BundleMeta = z.infer<typeof bundleMetaSchema>;
