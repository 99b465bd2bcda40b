// The example app's migration: Ferry runs it once per deployment and environment,
// on the first host, in the new release before it is switched to. It writes to the
// app's shared folder, which every release of the host sees.
import { appendFileSync, mkdirSync } from 'node:fs';

const version = process.env.FERRY_VERSION ?? 'dev';
mkdirSync('data', { recursive: true });
appendFileSync('data/migrations.log', `${new Date().toISOString()} hello@${version} migrated\n`);
console.log(`hello@${version}: data/migrations.log brought up to this version`);
