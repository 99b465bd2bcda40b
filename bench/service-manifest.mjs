// The manifest of the benches' tiny Node service: `node server.js` on the
// host's port, stopped within 5 s, healthy once `/health` answers (at the
// manifest's default interval, 1 s: the agent's first probe and its retries
// are Ferry's), three releases kept.

/** `ferry.yml` for app `app`, as text. */
export function serviceManifest(app) {
  return [
    'apps:',
    `  ${app}:`,
    '    service:',
    '      command: node server.js',
    "      env: { APP_PORT: '${PORT}' }",
    '      stopTimeout: 5s',
    "    health: { http: 'http://127.0.0.1:${PORT}/health', timeout: 30s }",
    '    keepReleases: 3',
    '',
  ].join('\n');
}
