import t from 'tap';
import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import { buildTestApp } from '../helpers/app.js';
import { fakeClock } from '../helpers/auth.js';

/**
 * Finding 5 of issue #15: while any transaction that wrote something stays open, the sealer
 * cannot pass it, and verify used to answer `ok: true` with `pending > 0` for as long as that
 * lasted. Events unsealed for more than a minute (by the app's clock) now make it `ok: false`.
 */
t.test('verify answers ok: false when events stay unsealed for more than a minute', async (t) => {
  const clock = fakeClock(new Date());
  const { app, db } = await buildTestApp(t, { build: { now: clock.now } });

  // An unrelated transaction with an xid, left open: nothing committed after it can be sealed.
  const blocker = await db.pool.connect();
  let open = true;
  t.teardown(async () => {
    if (open) await blocker.query('ROLLBACK');
    blocker.release();
  });
  await blocker.query('BEGIN');
  await blocker.query('SELECT pg_current_xact_id()');

  await app.audit.record(SYSTEM_CONTEXT, [
    { action: 'test.pending', outcome: 'success', resourceType: 'test' },
  ]);
  await app.auditChain.sealNow({ timeoutMs: 0 });
  const fresh = await app.auditChain.verify();
  t.equal(fresh.ok, true, 'a few seconds of pending is normal');
  t.ok(fresh.pending >= 1, 'and counted');

  // Events are stamped with the real time when recorded: a minute and a second after now.
  clock.set(new Date(Date.now() + 61_000));
  const stale = await app.auditChain.verify();
  t.equal(stale.ok, false, 'unsealed for more than a minute: not ok');
  t.match(stale.firstBad, { position: null, problem: /unsealed for more than 60 s/ });
  t.ok(stale.pending >= 1);

  await blocker.query('COMMIT');
  open = false;
  await app.auditChain.sealNow();
  const sealed = await app.auditChain.verify();
  t.match(sealed, { ok: true, pending: 0, firstBad: null }, 'once sealed, ok again');
});
