import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { createLocalKeyring, DataKeyNotFound } from '../../src/crypto/index.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsentResponse } from '../helpers/consents.js';
import { writeEntryResponse } from '../helpers/journal.js';
import { tsxArgs } from '../helpers/process.js';
import { publishTemplate } from '../helpers/templates.js';
import { createDatabaseClientKeys } from '../../src/db/key-store.js';

t.test(
  'purge-expired: dry run lists, --apply erases exactly the clients past retention',
  async (t) => {
    const clock = fakeClock(new Date('2014-06-02T09:00:00.000Z'));
    const { app, db, config } = await buildTestApp(t, { build: { now: clock.now } });
    const clinic = await createClinic(app);
    const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
    const templateId = (
      await publishTemplate(app, admin.headers, { key: 'meso', treatmentTypes: ['meso'] })
    ).id;

    /** A client with one treatment performed at the clock's current time minus an hour. */
    async function treatedClient(): Promise<string> {
      const { id: clientId } = await makeClient(app, { clinicId: clinic });
      const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
      const consent = await signConsentResponse(app, {
        clientId,
        templateId,
        headers: reception.headers,
        signerName: 'Signer',
        signedAt: new Date(clock.now().getTime() - 7_200_000).toISOString(),
      });
      t.equal(consent.statusCode, 201, consent.body);
      const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
      const entry = await writeEntryResponse(app, {
        clientId,
        headers: practitioner.headers,
        treatmentType: 'meso',
        performedAt: new Date(clock.now().getTime() - 3_600_000).toISOString(),
        notes: 'n',
      });
      t.equal(entry.statusCode, 201, entry.body);
      return clientId;
    }

    const expired = await treatedClient();
    const onHold = await treatedClient();
    const hold = await app.inject({
      method: 'PUT',
      url: `/v1/clients/${onHold}/legal-hold`,
      headers: admin.headers,
      payload: { active: true, reason: 'Open complaint' },
    });
    t.equal(hold.statusCode, 200);
    const { id: untreated } = await makeClient(app, { clinicId: clinic });
    clock.set(new Date('2025-06-02T09:00:00.000Z'));
    const recent = await treatedClient();

    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [...tsxArgs('src/cli.ts'), 'purge-expired', ...args], {
        env: {
          PATH: process.env.PATH,
          NODE_ENV: 'test',
          DATABASE_URL: db.url,
          MASTER_KEY: config.masterKey.toString('base64'),
          JWT_SECRET: randomBytes(40).toString('base64url'),
        },
        encoding: 'utf8',
        timeout: 60_000,
      });

    const failed = await app.inject({
      method: 'POST',
      url: '/v1/auth/login',
      payload: { username: 'nobody-here', password: 'not the password at all' },
    });
    t.equal(failed.statusCode, 401);
    const count = async (table: string) =>
      (await db.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n;
    const sessions = await count('sessions');
    t.ok((sessions ?? 0) > 0 && ((await count('throttle_counters')) ?? 0) > 0);

    // Idempotency-Key rows: one past its 24 hours, one still live.
    await db.pool.query(
      `INSERT INTO idempotency_keys (id, actor_id, key_hash, request_hash, status, created_at, expires_at)
       VALUES (gen_random_uuid(), gen_random_uuid(), '\\x01', '\\x01', 201, now() - interval '2 days', now() - interval '1 day'),
              (gen_random_uuid(), gen_random_uuid(), '\\x02', '\\x02', 201, now(), now() + interval '1 day')`,
    );

    const dry = cli();
    t.match(dry.stdout, 'would prune', 'counted');
    t.match(dry.stdout, ' 1 expired Idempotency-Key(s)');
    t.equal(dry.status, 0, dry.stderr);
    t.match(dry.stdout, `would erase ${expired}`);
    for (const kept of [onHold, untreated, recent]) t.notMatch(dry.stdout, kept);
    t.match(dry.stdout, /1 client\(s\) past retention \(10 years\)/);
    await t.resolves(app.keys.cipherFor(app.db, expired), 'a dry run erases nothing');
    t.match(
      dry.stdout,
      `would prune ${sessions} ended session(s)`,
      'every fake-clock session has ended',
    );
    t.equal(await count('sessions'), sessions, 'a dry run prunes nothing');

    t.equal(cli('--now').status, 2, 'an unknown option is refused');

    const applied = cli('--apply');
    t.equal(applied.status, 0, applied.stderr);
    t.match(applied.stdout, `erased ${expired}`);
    t.match(applied.stdout, /1 client\(s\) erased/);
    t.equal(await count('sessions'), 0, 'ended sessions pruned');
    t.equal(await count('refresh_tokens'), 0, 'with their refresh tokens');
    t.equal(await count('throttle_counters'), 0, 'old throttle counters pruned');
    t.equal(
      await count('idempotency_keys'),
      1,
      'the expired Idempotency-Key row pruned, the live one kept',
    );
    // This test process still caches the key for up to a minute, as any other API process
    // would; a fresh door reads the database, where the key is gone.
    const fresh = createDatabaseClientKeys({
      db: app.db,
      keyring: createLocalKeyring(config.masterKey, []),
    });
    await t.rejects(fresh.cipherFor(app.db, expired), DataKeyNotFound);
    for (const kept of [onHold, untreated, recent]) await t.resolves(fresh.cipherFor(app.db, kept));
    const events = await db.pool.query<{ reason: string | null; actor_id: string | null }>(
      "SELECT reason, actor_id FROM audit_events WHERE client_id = $1 AND action = 'client.erase'",
      [expired],
    );
    t.same(
      events.rows,
      [{ reason: 'retention_expired', actor_id: null }],
      'the erasure is audited',
    );
    t.match(cli().stdout, /0 client\(s\) past retention/, 'nothing left to purge');
  },
);
