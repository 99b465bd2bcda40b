import { z } from 'zod';

/**
 * Bodies of the HTTP API, shared by the server (which sends them) and the CLI's
 * API client (which reads them). The API lives under `/api/v1`.
 */

export const API_PREFIX = '/api/v1';

/** Roles a token can carry; what each may do grows with later features. */
export const ROLES = ['admin', 'deployer', 'qa', 'agent'] as const;
export const roleSchema = z.enum(ROLES, { error: `expected one of ${ROLES.join(', ')}` });
export type Role = z.infer<typeof roleSchema>;

/** `cart@12`: one bundle of one app. */
export const bundleRefSchema = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}@[1-9][0-9]*$/, {
    error: 'expected <app>@<version>, such as cart@12',
  })
  .transform((ref) => {
    const [app, version] = ref.split('@') as [string, string];
    return { app, version: Number(version) };
  });

export const bundleRecordSchema = z.object({
  app: z.string(),
  version: z.number().int(),
  label: z.string().nullable(),
  commit: z.string().nullable(),
  dirty: z.boolean().nullable(),
  sha256: z.string(),
  size: z.number().int(),
  fileCount: z.number().int(),
  createdAt: z.string(),
  pushedAt: z.string(),
  pushedBy: z.string(),
});
export type BundleRecord = z.infer<typeof bundleRecordSchema>;

/** One bundle with the app's resolved manifest section it carries. */
export const bundleDetailSchema = bundleRecordSchema.extend({
  manifest: z.record(z.string(), z.unknown()),
});
export type BundleDetail = z.infer<typeof bundleDetailSchema>;

export const pushResultSchema = z.object({
  created: z.boolean(),
  bundle: bundleRecordSchema,
});
export type PushResult = z.infer<typeof pushResultSchema>;

export const appSummarySchema = z.object({
  name: z.string(),
  latestVersion: z.number().int(),
  bundleCount: z.number().int(),
  lastPushedAt: z.string().nullable(),
});
export type AppSummary = z.infer<typeof appSummarySchema>;

export const tokenCreateBodySchema = z.strictObject({
  role: roleSchema,
  env: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,62}$/)
    .optional(),
  name: z.string().min(1).max(100).optional(),
});
export type TokenCreateBody = z.infer<typeof tokenCreateBodySchema>;

export const tokenRecordSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: roleSchema,
  env: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
export type TokenRecord = z.infer<typeof tokenRecordSchema>;

export const tokenCreatedSchema = tokenRecordSchema.extend({ token: z.string() });

export const whoamiSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: roleSchema,
  env: z.string().nullable(),
  serverVersion: z.string(),
});
export type Whoami = z.infer<typeof whoamiSchema>;
