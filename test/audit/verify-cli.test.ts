import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import pg from 'pg';
import { chainKeyring } from '../../src/modules/audit/audit.chain-keys.js';
import { createAuditSealer } from '../../src/modules/audit/audit.chain.js';
import { createAuditRecorder } from '../../src/modules/audit/audit.recorder.js';
import { createTestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/process.js';

const verifyAudit = (env: Record<string, string>, args: string[] = []) =>
  runCli('verify-audit', args, env);

t.test('verify-audit: exit 0 on a clean chain, 1 on tamper or a cut tail', async (t) => {
  const db = await createTestDatabase(t);
  const masterKey = randomBytes(32);
  const keys = chainKeyring({ masterKey, masterKeysOld: [] });
  const recorder = createAuditRecorder({ pool: db.pool });
  for (let i = 0; i < 20; i += 1) {
    await recorder.record(SYSTEM_CONTEXT, [
      { action: 'client.read', outcome: 'success', resourceId: `r${i}` },
    ]);
  }
  await recorder.close();
  await createAuditSealer({ pool: db.pool, keys }).sealNow();
  const env = { DATABASE_URL: db.url, MASTER_KEY: masterKey.toString('base64') };

  const clean = await verifyAudit(env);
  t.equal(clean.code, 0, clean.stderr);
  const result = JSON.parse(clean.stdout) as {
    ok: boolean;
    head: { position: number; hash: string };
  };
  t.match(result, { ok: true, checked: 20 });
  const head = `${result.head.position}:${result.head.hash}`;
  t.equal((await verifyAudit(env, ['--head', head])).code, 0);

  const wrongKey = await verifyAudit({ ...env, MASTER_KEY: randomBytes(32).toString('base64') });
  t.equal(wrongKey.code, 1, 'another master key cannot vouch for the chain');

  const su = new pg.Client({ connectionString: db.adminUrl });
  await su.connect();
  t.teardown(() => su.end());
  await su.query("SET session_replication_role = 'replica'");
  await su.query('DELETE FROM audit_chain WHERE position = 20');
  t.equal((await verifyAudit(env)).code, 0, 'a cut tail alone still verifies');
  const cut = await verifyAudit(env, ['--head', head]);
  t.equal(cut.code, 1);
  t.match(cut.stderr, /tail cut/);

  await su.query("UPDATE audit_events SET ip = '203.0.113.9' WHERE resource_id = 'r3'");
  const edited = await verifyAudit(env);
  t.equal(edited.code, 1);
  t.match(edited.stderr, /does NOT verify/);
  t.equal((await verifyAudit(env, ['--head', 'nonsense'])).code, 2, 'usage error');
});
