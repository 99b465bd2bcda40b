import type { Role } from '../../src/protocol/api.js';

/**
 * Who may call each route, as reviewed: the role × route matrix test
 * (`test/role-matrix.test.ts`) expects these answers, and checks that
 * `protocol/routes.ts` declares the same. A route's roles widened there (a
 * deployer making tokens) fail the test until they are widened here too, in
 * the same change, where a reviewer sees it. A new route fails it until it has
 * its line here.
 */
export const REVIEWED_ROLES: Readonly<Record<string, 'public' | readonly Role[]>> = {
  health: 'public',
  startSession: 'public',

  // People, to read and to write notes; the dashboard's session.
  events: ['admin', 'deployer', 'qa'],
  apps: ['admin', 'deployer', 'qa'],
  bundles: ['admin', 'deployer', 'qa'],
  bundle: ['admin', 'deployer', 'qa'],
  environments: ['admin', 'deployer', 'qa'],
  hosts: ['admin', 'deployer', 'qa'],
  hostFacts: ['admin', 'deployer', 'qa'],
  install: ['admin', 'deployer', 'qa'],
  installLogs: ['admin', 'deployer', 'qa'],
  variables: ['admin', 'deployer', 'qa'],
  verdicts: ['admin', 'deployer', 'qa'],
  deployments: ['admin', 'deployer', 'qa'],
  deployment: ['admin', 'deployer', 'qa'],
  deploymentLogs: ['admin', 'deployer', 'qa'],
  status: ['admin', 'deployer', 'qa'],
  appHistory: ['admin', 'deployer', 'qa'],
  history: ['admin', 'deployer', 'qa'],
  addNote: ['admin', 'deployer', 'qa'],
  notes: ['admin', 'deployer', 'qa'],
  note: ['admin', 'deployer', 'qa'],
  editNote: ['admin', 'deployer', 'qa'],
  addAction: ['admin', 'deployer', 'qa'],
  completeAction: ['admin', 'deployer', 'qa'],
  actions: ['admin', 'deployer', 'qa'],
  drift: ['admin', 'deployer', 'qa'],
  alerts: ['admin', 'deployer', 'qa'],
  report: ['admin', 'deployer', 'qa'],
  session: ['admin', 'deployer', 'qa'],
  endSession: ['admin', 'deployer', 'qa'],

  // Shipping: pushing, deploying, variables (the services narrow these by environment).
  pushBundle: ['admin', 'deployer'],
  setVariable: ['admin', 'deployer'],
  setVariableByPost: ['admin', 'deployer'],
  unsetVariable: ['admin', 'deployer'],
  deploy: ['admin', 'deployer'],
  promote: ['admin', 'deployer'],
  rollback: ['admin', 'deployer'],
  cancelDeployment: ['admin', 'deployer'],
  resumeDeployment: ['admin', 'deployer'],
  rollbackBakingDeployment: ['admin', 'deployer'],

  // The verdict is QA's (and the admin's).
  markVerdict: ['admin', 'qa'],

  // The admin's alone: who may call at all, and which hosts exist.
  createToken: ['admin'],
  tokens: ['admin'],
  revokeToken: ['admin'],
  removeHost: ['admin'],
  createInstall: ['admin'],
  audit: ['admin'],
  // Where notifications go, signed with secrets the admin holds.
  addWebhook: ['admin'],
  webhooks: ['admin'],
  testWebhook: ['admin'],
  webhookDeliveries: ['admin'],
  removeWebhook: ['admin'],

  // Agents: enrolling, and a host's own questions; a bundle is fetched by people too.
  enroll: ['agent'],
  installWanted: ['agent'],
  rotateCredential: ['agent'],
  confirmCredential: ['agent'],
  whoami: ['admin', 'deployer', 'qa', 'agent'],
  downloadBundle: ['admin', 'deployer', 'qa', 'agent'],
  signingKey: ['admin', 'deployer', 'qa', 'agent'],
};

/**
 * The routes outside the API that take no Ferry token and check a secret of
 * their own, as reviewed, each with its guard in words: the server's
 * `OWN_GUARD_ROUTES` must say the same, and the built server registers these
 * and no other (`src/server/routes/route-plugin.test.ts`). A new one fails
 * that test until it is added here, where a reviewer sees it.
 */
export const REVIEWED_OWN_GUARDS: Readonly<Record<string, { route: string; guard: string }>> = {
  // Prometheus' scrape: not a person's or an agent's token, one fixed secret of its own.
  metrics: {
    route: 'GET /metrics',
    guard:
      '404 unless metrics.enabled; then Authorization: Bearer <metrics.token> (compared in constant time), or anyone when metrics.public',
  },
};
