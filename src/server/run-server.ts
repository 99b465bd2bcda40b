import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FsArtifactStore } from '../artifacts/fs/fs-artifact-store.js';
import { openStore } from '../store/open-store.js';
import { SecretBox } from '../store/secret-box.js';
import { redact } from '../protocol/redact-url.js';
import { RabbitmqServerTransport } from '../transport/rabbitmq/rabbitmq-server-transport.js';
import type { TransportLogger } from '../transport/transport.js';
import type { Server as TlsServer } from 'node:tls';
import { buildServer } from './build-server.js';
import { ServerTls, tlsFolder } from './tls/server-tls.js';
import { loadSecretKey } from './secret-key.js';
import { type BundleRef, ServerSigningKey, UNSIGNED_SHOWN } from './signing-key.js';
import { artifactsPath, type ServerConfig, sqlitePath } from './server-config.js';

/** What one start of the server is asked to do besides serving: never kept in the configuration. */
export interface RunServerOptions {
  /**
   * Sign the bundles that have no server signature (`--sign-unsigned-bundles`):
   * an operator's explicit action after checking them, once, after an upgrade
   * from a Ferry older than signatures.
   */
  signUnsignedBundles?: boolean;
}

/**
 * The file under the data folder that holds the URL the server listens on, once
 * it does (the local-cluster harness, src/dev, reads it by this name).
 */
const SERVER_URL_FILE = 'server-url';

/** A listening server and how to stop it. */
export interface RunningServer {
  url: string;
  /**
   * SIGHUP: reads the operator's TLS certificate and key again (or renews the
   * server's own if due); connections open, agents' WebSockets included, stay.
   */
  reloadTls(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the adapters a config names, builds the app and starts listening. On a
 * first start it writes the admin token to `<data>/admin-token` and says where.
 * Everything under the data folder is the server's alone: folders 0700, files
 * 0600, whatever the folder's mode or the umask was.
 */
export async function runServer(
  config: Readonly<ServerConfig>,
  say: (line: string) => void,
  options: RunServerOptions = {},
): Promise<RunningServer> {
  // Whatever this process writes is its own, a permissive umask notwithstanding;
  // each writer also gives its own mode, and what an older Ferry left is fixed below.
  process.umask(0o077);
  await mkdir(config.data, { recursive: true, mode: 0o700 });
  await chmod(config.data, 0o700);
  const secretKey = await loadSecretKey(config);
  if (secretKey.made) {
    say(
      `First start: the key that seals secret variables is in ${secretKey.file} (mode 0600). Back it up; replicas sharing a store need the same key (FERRY_SECRET_KEY).`,
    );
  }
  const store = await openStore(
    config.store.driver === 'sqlite'
      ? { driver: 'sqlite', file: sqlitePath({ ...config, store: config.store }) }
      : config.store,
    new SecretBox(secretKey.key),
  );
  await store.migrate();
  const signingKey = await ServerSigningKey.load(config);
  if (signingKey.made) {
    say(
      `First start: the key that signs bundles is in ${signingKey.file} (mode 0600; public key ${signingKey.keyId}). Back it up; replicas sharing a store need the same key (FERRY_SIGNING_KEY).`,
    );
  }
  const { signed, unsigned } = await signingKey.prepareStore(store, {
    signUnsigned: options.signUnsignedBundles === true,
  });
  if (signed.length > 0) {
    say(
      `Signed ${signed.length} bundles that had no signature, with ${signingKey.keyId} (--sign-unsigned-bundles): ${signed.map(bundleName).join(', ')}.`,
    );
  }
  if (unsigned.length > 0) {
    const more = unsigned.length >= UNSIGNED_SHOWN ? ' (and maybe more)' : '';
    say(
      `Warning: ${unsigned.length} bundles${more} have no server signature, and agents refuse to install them: ${unsigned.map(bundleName).join(', ')}. ` +
        'A bundle recorded by a Ferry older than signatures has none; so has a record someone changed in the store. ' +
        'Once you have checked them, start the server once with --sign-unsigned-bundles to sign them.',
    );
  }
  // With the built-in transport, no agent connection survives a restart. With
  // RabbitMQ, presence is read from the broker, and other replicas' hosts stay.
  if (config.transport.kind === 'builtin') await store.hosts.resetPresence();
  const { kept } = await store.environments.sync(config.environments.map((e) => e.name));
  for (const name of kept) {
    say(
      `Environment ${name} is no longer configured but still has hosts; it stays until they are removed.`,
    );
  }
  const artifacts = new FsArtifactStore(artifactsPath(config));
  await artifacts.init();

  const serverTls = config.insecureHttp ? undefined : await ServerTls.load(config, say);
  if (serverTls?.caCertificate() !== undefined) {
    say(
      `TLS: this server is its own CA (fingerprint ${serverTls.caFingerprint()}); ${path.join(tlsFolder(config), 'ca.pem')} is what clients trust. Join strings from \`ferry tokens create\` carry the fingerprint.`,
    );
  }
  const caWarning = serverTls?.caWarning();
  if (caWarning !== undefined) say(caWarning);
  if (config.insecureHttp) {
    say(
      'WARNING: --insecure-http: serving plain HTTP. Tokens, secret variables and bundles cross the network in clear, and agents cannot tell this server from another. Use it only on a network you trust or behind a TLS proxy on this machine.',
    );
  }
  const { transport } = config;
  const replicaId = config.replicaId ?? `${os.hostname()}-${process.pid}`;
  const { app, tokens } = buildServer(config, {
    ...(serverTls ? { https: serverTls.current(), wire: serverTls } : {}),
    ...(config.insecureHttp
      ? { wire: { insecureHttp: true, caFingerprint: () => null, caExpiresAt: () => null } }
      : {}),
    store,
    artifacts,
    replicaId,
    signingKey,
    ...(transport.kind === 'rabbitmq'
      ? {
          transport: (logger: TransportLogger) =>
            new RabbitmqServerTransport({
              url: transport.url,
              caFile: transport.ca,
              logger,
              trustedUsers: transport.trustedUsers,
              prefix: transport.prefix,
              // A host cut off keeps no queue: it gets no job any more.
              hostIds: async () =>
                (await store.hosts.list()).filter((h) => !h.revokedAt).map((h) => h.id),
              hostName: async (hostId) => (await store.hosts.get(hostId))?.name,
              isCutOff: async (hostId) => (await store.hosts.cutOffIds()).includes(hostId),
            }),
        }
      : {}),
  });
  const tokenFile = path.join(config.data, 'admin-token');
  if (await tokens.bootstrapAdmin(tokenFile)) {
    say(`First start: the admin token is in ${tokenFile} (mode 0600).`);
  }
  await app.listen({ host: config.host, port: config.port });
  serverTls?.attach(app.server as unknown as TlsServer, app.log);
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${serverTls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  const storeText =
    config.store.driver === 'sqlite'
      ? `SQLite ${sqlitePath({ ...config, store: config.store })}`
      : `PostgreSQL ${redact(config.store.url)}`;
  const transportText =
    transport.kind === 'builtin' ? 'built-in (WebSocket)' : `RabbitMQ ${redact(transport.url)}`;
  // Where it listens, for whoever started it with `--port 0` (the local-cluster
  // harness): a file, not a log line to scrape. Renamed into place, never half-written.
  const urlFile = path.join(config.data, SERVER_URL_FILE);
  await writeFile(`${urlFile}.tmp`, `${url}\n`, { mode: 0o600 });
  await rename(`${urlFile}.tmp`, urlFile);
  say(
    `Ferry server ${replicaId} listening on ${url} (data in ${config.data}; store: ${storeText}; transport: ${transportText})`,
  );
  return {
    url,
    reloadTls: async () => {
      if (!serverTls) return;
      try {
        await serverTls.reload();
      } catch (err) {
        // The certificate served so far stays: a bad file does not stop the server.
        app.log.error({ err }, 'TLS reload failed; the certificate served so far stays');
        throw err;
      }
    },
    close: async () => {
      await serverTls?.close();
      await app.close();
      await store.close();
    },
  };
}

function bundleName(bundle: BundleRef): string {
  return `${bundle.app}@${bundle.version} (sha256 ${bundle.sha256.slice(0, 12)}…)`;
}
