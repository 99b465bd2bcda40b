import { readFileSync } from 'node:fs';
import path from 'node:path';
import { spkiSha256Base64 } from '../../src/tls/pem.js';

/**
 * Chromium flags that make it accept exactly the key of a harness server's
 * certificate (`--ignore-certificate-errors-spki-list`), and no other: the
 * browser does not know the server's own CA, and a test must not turn
 * checking off. The key stays the same across a restart of the server.
 *
 * @example
 *   chromium.launch({ executablePath, args: chromiumTrustArgs(cluster.server.dataDir) });
 */
export function chromiumTrustArgs(serverData: string): string[] {
  const chain = readFileSync(path.join(serverData, 'tls', 'server.pem'), 'utf8');
  return [`--ignore-certificate-errors-spki-list=${spkiSha256Base64(chain)}`];
}
