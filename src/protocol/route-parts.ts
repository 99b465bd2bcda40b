import { z } from 'zod';
import { appNameSchema } from '../bundle/manifest-schema.js';
import type { Role } from './api.js';

/**
 * What the route tables of `ROUTES` share: who may call, and the path
 * parameters of more than one area.
 */

/** Any person's token: everything but an agent's. */
export const PEOPLE = ['admin', 'deployer', 'qa'] as const satisfies readonly Role[];

/** An app named in the path: `/apps/:app/...`. */
export const appParams = z.object({ app: appNameSchema });
