import t from 'tap';
import { allows } from '../../src/access/permissions.js';
import { isOrganisationWide, ROLES } from '../../src/access/roles.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { ROUTE_CASES, type Variant } from './matrix.cases.js';

/**
 * Every /v1 route the application registers × every role × {own clinic, other clinic,
 * missing id}: the expected status comes from the permission table and the route's declared
 * permission; another clinic's client answers 404 to reception and practitioners, and like
 * their own to the organisation-wide roles (admin, auditor), who sign in with no clinic. A route missing from matrix.cases.ts (or a case for a route that no longer
 * exists) fails the suite.
 */
t.test('permission matrix', async (t) => {
  const clock = fakeClock();
  const { app } = await buildTestApp(t, { build: { now: clock.now } });
  const routes = app.apiRoutes;
  const keys = routes.map((route) => `${route.method} ${route.url}`);
  t.ok(routes.length >= 12, `${routes.length} /v1 routes registered`);

  const uncovered = keys.filter((key) => !(key in ROUTE_CASES));
  t.same(uncovered, [], 'every registered /v1 route has a matrix case');
  const stale = Object.keys(ROUTE_CASES).filter((key) => !keys.includes(key));
  t.same(stale, [], 'every matrix case names a registered route');

  const ownClinicId = await createClinic(app);
  const otherClinicId = await createClinic(app);

  for (const route of routes) {
    const key = `${route.method} ${route.url}`;
    const routeCase = ROUTE_CASES[key];
    if (!routeCase) continue;
    t.ok(routeCase.build.own, `${key}: has an own-clinic case`);

    if (!route.public) {
      const build = routeCase.build.own!;
      const anonymous = await build({
        app,
        ownClinicId,
        otherClinicId,
        role: 'admin',
        headers: (await loginAs(app, { role: 'admin', clinicIds: [ownClinicId] })).headers,
        now: clock.now,
      });
      const res = await app.inject({ ...anonymous, headers: {} });
      t.equal(res.statusCode, 401, `${key} without a token → 401`);
    }

    for (const role of ROLES) {
      for (const variant of ['own', 'other', 'missing'] as Variant[]) {
        const build = routeCase.build[variant];
        if (!build) continue;
        // Admins and auditors are organisation-wide: their clinics grant nothing, so they sign
        // in with none and still reach every clinic's clients on the routes they may use.
        const signedIn = await loginAs(app, {
          role,
          clinicIds: isOrganisationWide(role) ? [] : [ownClinicId],
        });
        const request = await build({
          app,
          ownClinicId,
          otherClinicId,
          role,
          headers: signedIn.headers,
          now: clock.now,
        });
        let expected: number;
        if (!route.public && !allows(route.permission!, role)) expected = 403;
        else if (variant === 'missing') expected = 404;
        else if (variant === 'other' && routeCase.clinicScoped && !isOrganisationWide(role)) {
          expected = 404;
        } else expected = routeCase.ok;
        const res = await app.inject(request);
        t.equal(
          res.statusCode,
          expected,
          `${key} as ${role}, ${variant} → ${expected}${res.statusCode === expected ? '' : `: ${res.body}`}`,
        );
        if (expected >= 400) {
          t.match(res.headers['content-type'], /^application\/problem\+json/);
        }
        // TOTP codes are single-use per time step: move on so the next confirmation has a fresh one.
        clock.advance(30_000);
      }
    }
  }
});
