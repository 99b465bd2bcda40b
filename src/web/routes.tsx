import { ActivityPage } from './pages/activity-page.js';
import { AlertsPage } from './pages/alerts-page.js';
import { AppPage } from './pages/app-page.js';
import { DeploymentPage } from './pages/deployment-page.js';
import { HostPage } from './pages/host-page.js';
import { HostsPage } from './pages/hosts-page.js';
import { OverviewPage } from './pages/overview-page.js';
import { ReportPage } from './pages/report-page.js';
import { SignInPage } from './pages/sign-in-page.js';
import { page, type PageRoute } from './router/page-route.js';

/**
 * Every page of the dashboard, by path, first match wins. A page is a
 * component taking `{ params, search }`; add one by adding a line here (the
 * server gives index.html for every path outside /api/, so any path works
 * on reload).
 */
export const PAGES: readonly PageRoute[] = [
  page('/', OverviewPage),
  page('/sign-in', SignInPage, { public: true }),
  page('/apps/:app', AppPage),
  page('/activity', ActivityPage),
  page('/deployments/:id', DeploymentPage),
  page('/hosts', HostsPage),
  page('/hosts/:name', HostPage),
  page('/alerts', AlertsPage),
  page('/reports/:app/:version', ReportPage),
];
