import {
  driftAnswerSchema,
  driftQuerySchema,
  reportQuerySchema,
  reportSchema,
} from './report-api.js';
import { declareRoute, type RouteDeclaration } from './route-declaration.js';
import { PEOPLE } from './route-parts.js';

/** The routes that compare and report: drift between hosts, and a release report. */
export const REPORT_ROUTES = {
  drift: declareRoute({
    feature: 'drift',
    method: 'GET',
    path: '/drift',
    roles: PEOPLE,
    summary:
      'What differs now between the hosts of each environment (or of `env`, among the hosts of `app`): runtime versions, OS, kernel, agent version, the release each app runs against the desired one, and variables of the configuration among the hosts of a role.',
    note: "Hosts that are away are compared by their last facts (`away` names them). A secret variable's values are compared by hash and shown as `(secret #1)`, `(secret #2)`, never by value. An unknown `env` is `E_ENV_NOT_FOUND`, an unknown `app` `E_APP_NOT_FOUND`.",
    query: driftQuerySchema,
    answer: driftAnswerSchema,
    statuses: [200],
  }),

  report: declareRoute({
    feature: 'reports',
    method: 'GET',
    path: '/report',
    roles: PEOPLE,
    summary:
      "The release report of one bundle (`app` and `version`) or of a label (every bundle pushed with it, across apps): summary, each environment's deployments and installs host by host, Ferry's findings, people's notes.",
    note: 'Built from the records at the moment of asking. `E_BUNDLE_NOT_FOUND` for an unknown bundle, `E_LABEL_NOT_FOUND` for a label no bundle carries.',
    query: reportQuerySchema,
    answer: reportSchema,
    statuses: [200],
  }),
} as const satisfies Record<string, RouteDeclaration>;
