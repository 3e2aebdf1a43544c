import { createCipheriv, hkdfSync, randomBytes } from 'node:crypto';
import t from 'tap';
import {
  DecryptionFailed,
  LEGACY_TOTP_KEK_ID,
  createClientKeys,
  createLocalKeyring,
  type KeyStore,
} from '../../src/crypto/index.js';
import { createTotpSecretBox } from '../../src/modules/auth/totp-secret.js';

/** The door over a store nobody calls: sealSecret/openSecret need only the keyring. */
const door = (current: Buffer, old: Buffer[] = []) =>
  createClientKeys({ store: {} as KeyStore<unknown>, keyring: createLocalKeyring(current, old) });

/** A TOTP secret as the service sealed it before migration 0009 (HKDF of MASTER_KEY alone). */
function legacySeal(masterKey: Buffer, userId: string, secret: Buffer): Buffer {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'totp-secret', 32));
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(`users.totp_secret:${userId}:v1`));
  const body = Buffer.concat([cipher.update(secret), cipher.final()]);
  return Buffer.concat([Buffer.from([1]), nonce, body, cipher.getAuthTag()]);
}

t.test('TOTP secrets: sealed by the keyring, versioned, bound to the user', async (t) => {
  const k0 = randomBytes(32);
  const k1 = randomBytes(32);
  const userId = '0193b2a4-0000-7000-8000-000000000001';
  const secret = randomBytes(20);
  const sealed = await createTotpSecretBox(door(k0)).seal(userId, secret);
  t.notOk(sealed.totpSecret.includes(secret), 'not in clear');
  t.match(sealed.totpKekId, /^mk1:[0-9a-f]{16}$/, 'names the master-key version');

  t.same(await createTotpSecretBox(door(k1, [k0])).open(userId, sealed), secret, 'after a switch');
  await t.rejects(
    createTotpSecretBox(door(k1)).open(userId, sealed),
    DecryptionFailed,
    'a retired version opens nothing',
  );
  await t.rejects(
    createTotpSecretBox(door(k0)).open('0193b2a4-0000-7000-8000-000000000002', sealed),
    DecryptionFailed,
    'copied to another user, it does not open',
  );
  await t.rejects(
    door(k0).openSecret('totpSecret', userId, {
      kekId: sealed.totpKekId,
      wrapped: Buffer.alloc(40),
    }),
    DecryptionFailed,
  );
});

t.test('TOTP secrets sealed before the keyring owned them still open', async (t) => {
  const k0 = randomBytes(32);
  const k1 = randomBytes(32);
  const userId = '0193b2a4-0000-7000-8000-000000000003';
  const secret = randomBytes(20);
  const legacy = { totpSecret: legacySeal(k0, userId, secret), totpKekId: LEGACY_TOTP_KEK_ID };
  t.same(await createTotpSecretBox(door(k0)).open(userId, legacy), secret, 'under MASTER_KEY');
  t.same(
    await createTotpSecretBox(door(k1, [k0])).open(userId, legacy),
    secret,
    'or a MASTER_KEYS_OLD after a switch',
  );
  await t.rejects(createTotpSecretBox(door(k1)).open(userId, legacy), DecryptionFailed);
  await t.rejects(
    createTotpSecretBox(door(k0)).open('0193b2a4-0000-7000-8000-000000000004', legacy),
    DecryptionFailed,
    'bound to its user',
  );
  await t.rejects(
    door(k0).openSecret('totpSecret', userId, {
      kekId: LEGACY_TOTP_KEK_ID,
      wrapped: Buffer.alloc(8),
    }),
    DecryptionFailed,
    'a short value',
  );
  t.ok(createLocalKeyring(k0).has(LEGACY_TOTP_KEK_ID));
});
