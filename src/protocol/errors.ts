/**
 * The one error type of Ferry and the catalogue of its codes.
 *
 * Every failure that crosses a boundary (HTTP, CLI exit, logs) carries a stable
 * `code`; nothing matches on message text. On the wire an error is
 * `{ code, message, details }`.
 *
 * @example
 *   throw new FerryError('E_BUNDLE_NOT_FOUND', 'cart@12 does not exist', { app: 'cart', version: 12 });
 */

/** Each code with its HTTP status and a hint the CLI prints below the message. */
export const ERROR_CATALOGUE = {
  E_BAD_REQUEST: {
    status: 400,
    hint: 'Check the command line or request body against `ferry --help`.',
  },
  E_BODY_TOO_LARGE: {
    status: 413,
    hint: 'The request body is larger than the server takes for this call; bundles go to `POST /bundles`.',
  },
  E_URI_TOO_LONG: {
    status: 414,
    hint: 'A path parameter is longer than any name or id the server has: check the URL.',
  },
  E_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    hint: 'Send JSON (`Content-Type: application/json`), or a bundle as `application/gzip`.',
  },
  E_HEADERS_TOO_LARGE: {
    status: 431,
    hint: 'The request line and headers are larger than the server reads: check the URL and headers.',
  },
  E_AUTH_REQUIRED: {
    status: 401,
    hint: 'Pass --token, set FERRY_TOKEN, or run `ferry login`. On a new server the admin token is in <data>/admin-token.',
  },
  E_AUTH_INVALID: {
    status: 401,
    hint: 'The token is unknown or revoked. Ask an admin for a new one (`ferry tokens create`) and run `ferry login`.',
  },
  E_CREDENTIAL_EXPIRED: {
    status: 401,
    hint: 'Enrol the host again with a join string: `ferry hosts remove NAME`, delete <root>/agent/identity.json, and start the agent with `--join-file FILE`, FILE (mode 0600) holding the join string `ferry tokens create --role agent --env ENV` prints.',
  },
  E_METRICS_TOKEN: {
    status: 401,
    hint: "Give the scraper the server's metrics.token (FERRY_METRICS_TOKEN) as its bearer token: `authorization: { credentials_file: ... }` in Prometheus' scrape_config (docs/metrics.md).",
  },
  E_FORBIDDEN: { status: 403, hint: 'Use a token whose role allows this call.' },
  E_CSRF: {
    status: 403,
    hint: "Reload the page: a signed-in page's writes carry its CSRF token (`x-ferry-csrf`) and come from the server's own origin.",
  },
  E_NOT_FOUND: {
    status: 404,
    hint: 'Check the server URL and that client and server are the same Ferry version.',
  },
  E_APP_NOT_FOUND: { status: 404, hint: 'List the apps the server knows with `ferry apps`.' },
  E_BUNDLE_NOT_FOUND: {
    status: 404,
    hint: 'List the bundles of an app with `ferry bundles <app>`.',
  },
  E_TOKEN_NOT_FOUND: { status: 404, hint: 'List tokens with `ferry tokens list`.' },
  E_ENV_NOT_FOUND: {
    status: 404,
    hint: 'Environments are dev, qa and prod unless the server is configured otherwise.',
  },
  E_HOST_NOT_FOUND: { status: 404, hint: 'List hosts with `ferry hosts`.' },
  E_FACTS_INVALID: {
    status: 400,
    hint: "The agent's facts report does not match the facts schema: upgrade the agent, or look at its log for what it sent.",
  },
  E_HOST_EXISTS: {
    status: 409,
    hint: 'Another host has this name: choose another --name, or keep the agent root (<root>/agent) of the first.',
  },
  E_INSTALL_NOT_FOUND: { status: 404, hint: 'Check the install id printed by `ferry install`.' },
  E_VARIABLE_MISSING: {
    status: 400,
    hint: 'Set it with `ferry vars set NAME=VALUE --env|--role|--host`, or remove the reference from ferry.yml.',
  },
  E_VARIABLE_AMBIGUOUS: {
    status: 409,
    hint: "Two of the host's roles set the variable differently: set it for the host (`ferry vars set NAME=VALUE --host H`), or unset it for one role.",
  },
  E_SECRET_IN_COMMAND: {
    status: 400,
    hint: 'Give the secret to the process through `service.env` (`NAME: "${NAME}"`) and read `$NAME` from its environment; never write `${NAME}` of a secret into a command, hook or health command.',
  },
  E_VARIABLE_NOT_FOUND: {
    status: 404,
    hint: 'List variables and their scopes with `ferry vars list`.',
  },
  E_WEBHOOK_NOT_FOUND: {
    status: 404,
    hint: 'List webhooks with `ferry webhooks list`.',
  },
  E_WEBHOOK_URL: {
    status: 400,
    hint: 'Give an http:// or https:// URL, such as https://hooks.example.com/ferry.',
  },
  E_NOTE_NOT_FOUND: {
    status: 404,
    hint: 'List notes with `ferry note list [<app>@<version> | --label L]`.',
  },
  E_ACTION_NOT_FOUND: {
    status: 404,
    hint: 'List actions with `ferry actions [--owner NAME]`.',
  },
  E_FINDING_NOT_FOUND: {
    status: 404,
    hint: 'A note confirms a finding of its release report by key: see the keys with `ferry report <app>@<version> | --label L`.',
  },
  E_LABEL_NOT_FOUND: {
    status: 404,
    hint: 'A label names the bundles pushed with it (`ferry push --label L`); see the labels with `ferry bundles <app>`.',
  },
  E_RANGE_NOT_SATISFIABLE: { status: 416, hint: 'Ask for a byte range inside the bundle.' },
  E_UPLOAD_INCOMPLETE: {
    status: 400,
    hint: 'The upload broke off before its end; nothing was kept. Push again.',
  },
  E_UPLOAD_STALLED: {
    status: 408,
    hint: 'The upload was too slow (limits.uploadIdleSeconds, limits.uploadMinBytesPerSecond); nothing was kept. Push again from a faster link.',
  },
  E_SERVER_BUSY: {
    status: 503,
    hint: 'Every bundle checker was busy for too long; nothing was kept. Push again after the Retry-After seconds.',
  },
  E_BUNDLE_TOO_LARGE: {
    status: 413,
    hint: 'Exclude what the app does not need (`exclude`, .ferryignore) or raise limits.maxBundleBytes.',
  },
  E_BUNDLE_NOT_GZIP: {
    status: 400,
    hint: 'Push a file made by `ferry bundle`, or push the directory itself.',
  },
  E_BUNDLE_NOT_TAR: {
    status: 400,
    hint: 'Push a file made by `ferry bundle`, or push the directory itself.',
  },
  E_BUNDLE_META_MISSING: {
    status: 400,
    hint: 'A bundle starts with ferry-bundle.json; make it with `ferry bundle`.',
  },
  E_BUNDLE_META_INVALID: { status: 400, hint: 'Make the bundle again with `ferry bundle`.' },
  E_BUNDLE_APP_UNDEFINED: {
    status: 400,
    hint: 'The bundle names an app its manifest does not define; make it again with `ferry bundle --app <name>`.',
  },
  E_BUNDLE_CONTENT_MISMATCH: {
    status: 400,
    hint: 'The archive does not hold what its ferry-bundle.json lists; make it again with `ferry bundle`.',
  },
  E_BUNDLE_UNSAFE_PATH: {
    status: 400,
    hint: 'Bundles hold only relative paths inside the app, regular files and links that stay inside.',
  },
  E_RELEASE_EXISTS: {
    status: 409,
    hint: 'A release folder is unpacked only once; remove the stale folder or unpack into a new one.',
  },
  E_BUNDLE_SYMLINK_OUTSIDE: {
    status: 400,
    hint: 'A symbolic link in the app points outside its folder; remove it or add it to `exclude`.',
  },
  E_SHARED_PATH_UNSAFE: {
    status: 400,
    hint: 'A `shared` path of ferry.yml walks through a link in the release; list the real folder instead, or drop the link from the bundle.',
  },
  E_MANIFEST_NOT_FOUND: { status: 400, hint: 'Create a ferry.yml at the root of the source tree.' },
  E_MANIFEST_INVALID: {
    status: 400,
    hint: 'Fix each problem listed; every key of ferry.yml is described in docs/manifest.md.',
  },
  E_MANIFEST_APP_UNKNOWN: {
    status: 400,
    hint: 'Use one of the app names defined under `apps:` in ferry.yml.',
  },
  E_MANIFEST_APP_AMBIGUOUS: {
    status: 400,
    hint: 'ferry.yml defines several apps: choose one with --app NAME.',
  },
  E_SOURCE_NOT_FOUND: { status: 400, hint: 'Check the path you gave.' },
  E_CONFIG_INVALID: {
    status: 400,
    hint: 'Fix each problem listed; every setting is described in docs/server.md.',
  },
  E_SECRET_KEY_MISMATCH: {
    status: 500,
    hint: 'Give this server the key the store was sealed with: copy <data>/secret.key of the first replica, or set the same FERRY_SECRET_KEY on every replica.',
  },
  E_SIGNING_KEY_MISMATCH: {
    status: 500,
    hint: 'Give every replica of one store the same signing key: copy <data>/signing.key of the first replica, or set the same FERRY_SIGNING_KEY on every replica.',
  },
  E_KEY_INVALID: {
    status: 400,
    hint: 'Give an ed25519 key: make one with `ferry keys create FILE` or `openssl genpkey -algorithm ed25519 -out FILE`.',
  },
  E_SIGNATURE_INVALID: {
    status: 400,
    hint: 'Sign the bundle you push, with the key whose public half you send: `ferry push --sign KEYFILE` does both.',
  },
  E_SIGNATURE_REQUIRED: {
    status: 409,
    hint: 'Push the bundle again signed by one of the keys the environment requires (`ferry push --sign KEYFILE`); `ferry bundle show` lists who signed it.',
  },
  E_SERVER_UNREACHABLE: {
    status: 503,
    hint: 'Check --server / FERRY_SERVER and that `ferry server` is running.',
  },
  E_SERVER_UNTRUSTED: {
    status: 502,
    hint: 'The server presented a certificate from another CA than the one pinned (join string or `ferry login --join`). If the server was set up again, make a new join string with `ferry tokens create`; otherwise someone may be in the way.',
  },
  E_SERVER_NAME_MISMATCH: {
    status: 502,
    hint: "The server's certificate is from the trusted CA but does not name the address dialled: use a name it has, or start the server with `--tls-name NAME` (FERRY_TLS_NAMES, tls.names) for each name it is reached by.",
  },
  E_PINNED_CA_MISSING: {
    status: 500,
    hint: "The agent pinned its server's CA at enrolment and keeps it in <root>/agent/server-ca.pem: put that file back, or enrol the host again with a join string (`ferry tokens create --role agent --env ENV` prints one).",
  },
  E_JOIN_INVALID: {
    status: 400,
    hint: 'Copy the whole join string printed by `ferry tokens create` into the file (or FERRY_JOIN).',
  },
  E_JOB_TOO_LARGE: {
    status: 413,
    hint: 'Keep large data out of ferry.yml and variables: ship it in the bundle (or a shared file) and refer to it by path.',
  },
  E_SERVICE_INVALID: {
    status: 400,
    hint: 'Fix the service settings named in the message (ferry.yml `service:` and the host variables).',
  },
  E_REQUIREMENTS_NOT_MET: {
    status: 400,
    hint: "Bring the host up to the manifest's `requires` (install the runtime or command on the PATH the agent gives commands: `ferry agent --path`), or widen the range; `ferry logs` shows what each host has.",
  },
  E_SERVICE_START_FAILED: {
    status: 500,
    hint: "The service could not be started; check its working folder, command and the agent's log.",
  },
  E_SERVICE_STOP_FAILED: {
    status: 500,
    hint: 'Processes of the service survived SIGKILL; look for them with `ps -eo pid,pgid,stat,cmd` on the host.',
  },
  E_PROCESS_DRIVER_FAILED: {
    status: 500,
    hint: "supervisorctl or systemctl failed; its output is in the details. Check the agent's process driver settings.",
  },
  E_VERDICT_REQUIRED: {
    status: 409,
    hint: 'QA marks a bundle with `ferry mark <app>@<version> passed`; see its verdict with `ferry verdicts <app>@<version>`.',
  },
  E_ROLLBACK_OVER_MIGRATIONS: {
    status: 409,
    hint: 'Going back does not undo a migration: the older release will run on the migrated data. Check that it can, then run the same `ferry rollback`, `ferry deploy`, `ferry promote` or `ferry mark … failed --rollback` with `--yes`.',
  },
  E_DEPLOY_LOCKED: {
    status: 409,
    hint: 'Wait for it (`ferry deploy … --wait-lock`), follow it with `ferry status <app>`, or cancel it with `ferry cancel <deployment-id>`. One baking or paused after a bad bake is ended by `ferry deployments rollback <deployment-id>` (a paused one waits for that or `ferry deployments resume <deployment-id>`, not for --wait-lock).',
  },
  E_DEPLOYMENT_NOT_FOUND: {
    status: 404,
    hint: 'List deployments with `ferry deployments [--app A] [--env E]`.',
  },
  E_DEPLOYMENT_FINISHED: {
    status: 409,
    hint: 'Only a deployment still going (pending, running, baking or paused) can be cancelled; roll back a finished one with `ferry rollback`.',
  },
  E_DEPLOYMENT_NOT_PAUSED: {
    status: 409,
    hint: 'Only a deployment paused after a bad bake can be resumed; see its state with `ferry deployment <id>`.',
  },
  E_DEPLOYMENT_NOT_BAKING: {
    status: 409,
    hint: 'Only a baking or paused deployment can be rolled back this way; roll back a finished one with `ferry rollback APP --env ENV`.',
  },
  E_AUTO_DEPLOY_FAILED: {
    status: 409,
    hint: 'The bundle is pushed and keeps its version: fix what the message names (`ferry vars set`, for a missing variable), then deploy it with `ferry deploy APP@VERSION --env ENV`.',
  },
  E_NOTHING_TO_PROMOTE: {
    status: 409,
    hint: 'A bundle is promoted from the last environment where it succeeded; see `ferry status <app>`.',
  },
  E_NOTHING_TO_ROLL_BACK: {
    status: 409,
    hint: 'Name the version with --to, or deploy one with `ferry deploy <app>@<version> --env ENV`.',
  },
  E_TRANSPORT_UNAVAILABLE: {
    status: 503,
    hint: "The message broker did not take the job: check that RabbitMQ is up and the server's transport URL; a rollout tries again by itself.",
  },
  E_STORAGE_FULL: {
    status: 507,
    hint: 'The server is out of disk space where it keeps bundles or its database: free some space (or grow the disk) and try again.',
  },
  E_AGENT_ROOT_LOCKED: {
    status: 409,
    hint: 'One agent per --root: stop the other agent (the PID is in the message), or give this one a root of its own.',
  },
  E_LOCAL_CLUSTER: {
    status: 500,
    hint: 'A server or agent that `ferry demo` (or a test or benchmark) started exited or did not get ready in time: the message holds what it printed, and its log file in the demo folder the rest. Or no port was left for a service: the message names the range and the folder of reservations.',
  },
  E_SERVER_STOPPING: {
    status: 503,
    hint: 'The server is stopping or restarting: try again once it is back (agents send again by themselves).',
  },
  E_INTERNAL: { status: 500, hint: 'This is a bug in Ferry; the server log has the details.' },
} as const satisfies Record<string, { status: number; hint: string }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The shape of an error on the wire. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** The error type thrown everywhere in Ferry. */
export class FerryError extends Error {
  override readonly name = 'FerryError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  get hint(): string {
    return ERROR_CATALOGUE[this.code].hint;
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** True when `code` is a code of the catalogue (for error bodies read off the wire). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOGUE, code);
}
