import t from 'tap';
import { SYSTEM_CONTEXT, type RequestContext } from '../../src/access/context.js';
import { ServiceUnavailable } from '../../src/errors.js';
import { createExportGate } from '../../src/modules/audit/audit.export-gate.js';
import {
  createAuditService,
  MAX_CONCURRENT_VERIFIES,
} from '../../src/modules/audit/audit.service.js';
import type { VerifyResult } from '../../src/modules/audit/audit.verify.js';
import { buildTestApp } from '../helpers/app.js';

t.test('verifications running at once are capped: one more answers 503', async (t) => {
  const { app } = await buildTestApp(t);
  // A chain whose verification runs until the test lets it finish.
  const waiting: (() => void)[] = [];
  const done: VerifyResult = {
    ok: true,
    checked: 0,
    head: null,
    firstBad: null,
    pending: 0,
    since: null,
  };
  const audit = createAuditService({
    db: app.db,
    exportPool: app.pool,
    exportGate: createExportGate({ capacity: 1, perUser: 1 }),
    audit: app.audit,
    keys: app.keys,
    chain: {
      sealNow: async () => 0,
      verify: () => new Promise((resolve) => waiting.push(() => resolve(done))),
    },
  });
  const ctx: RequestContext = {
    ...SYSTEM_CONTEXT,
    actor: {
      userId: '00000000-0000-7000-8000-000000000001',
      sessionId: '00000000-0000-7000-8000-000000000002',
      username: 'auditor',
      role: 'auditor',
      clinicIds: [],
    },
  };
  const running = Array.from({ length: MAX_CONCURRENT_VERIFIES }, () => audit.verify(ctx, {}));
  while (waiting.length < MAX_CONCURRENT_VERIFIES) await new Promise(setImmediate);
  const refused = await audit.verify(ctx, {}).then(
    () => null,
    (error: unknown) => error,
  );
  t.ok(refused instanceof ServiceUnavailable, 'one beyond the cap is refused with 503');
  t.match((refused as ServiceUnavailable).headers, { 'retry-after': /^\d+$/ });
  for (const finish of waiting.splice(0)) finish();
  t.same(
    (await Promise.all(running)).map((result) => result.ok),
    Array(MAX_CONCURRENT_VERIFIES).fill(true),
  );
  const after = audit.verify(ctx, {});
  while (waiting.length < 1) await new Promise(setImmediate);
  waiting.splice(0).forEach((finish) => finish());
  t.match(await after, { ok: true }, 'a slot frees when a run ends');
});
