import { randomBytes } from 'node:crypto';
import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import type { Role } from '../../src/access/roles.js';
import { uuidv7 } from '../../src/db/ids.js';
import { insertClinic } from '../../src/modules/clinics/clinics.repository.js';
import { createUsersService } from '../../src/modules/users/users.service.js';
import { updateUser } from '../../src/modules/users/users.repository.js';
import { totpCode } from '../../src/modules/auth/totp.js';
import type { TestApp } from './app.js';

type App = TestApp['app'];

/** A password that passes the 12–128 rule. */
export const TEST_PASSWORD = 'correct horse battery staple';

export function bearer(token: string) {
  return { authorization: `Bearer ${token}` };
}

/** A clock tests move by hand: pass `now` to buildTestApp's `build` option. */
export function fakeClock(start = new Date('2030-01-15T09:00:00.000Z')) {
  let current = start.getTime();
  return {
    now: () => new Date(current),
    advance(ms: number) {
      current += ms;
    },
    set(date: Date) {
      current = date.getTime();
    },
  };
}

export async function createClinic(app: App, name = `Clinic ${randomBytes(4).toString('hex')}`) {
  const clinic = await insertClinic(app.db, { id: uuidv7(), name, now: new Date() });
  return clinic.id;
}

export interface TestUser {
  id: string;
  username: string;
  password: string;
  role: Role;
  clinicIds: string[];
}

/** Creates a user through the users service (the app's own hashing parameters). */
export async function createUser(
  app: App,
  options: {
    role: Role;
    clinicIds?: string[];
    username?: string;
    password?: string;
    displayName?: string;
    disabled?: boolean;
    /** A Danish autorisations-ID: the user may perform or be responsible for authorised treatments. */
    authorisationId?: string;
    profession?: string;
  },
): Promise<TestUser> {
  const clinicIds = options.clinicIds ?? [await createClinic(app)];
  const username = options.username ?? `${options.role}-${randomBytes(5).toString('hex')}`;
  const password = options.password ?? TEST_PASSWORD;
  const users = createUsersService({
    db: app.db,
    passwords: app.identity.passwords,
    clock: app.clock,
    audit: app.audit,
  });
  const user = await users.create(SYSTEM_CONTEXT, {
    username,
    password,
    role: options.role,
    displayName: options.displayName ?? `Test ${options.role}`,
    clinicIds,
    authorisationId: options.authorisationId ?? null,
    profession: options.profession ?? null,
  });
  if (options.disabled)
    await updateUser(app.db, user.id, { disabled: true, updatedAt: new Date() });
  return { id: user.id, username, password, role: options.role, clinicIds };
}

export interface LoginResult {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  mfaEnrollmentRequired: boolean;
  user: { id: string; username: string; role: Role; clinicIds: string[] };
}

/** POST /v1/auth/login; throws unless it answers 200. */
export async function login(
  app: App,
  credentials: { username: string; password: string; otp?: string },
  remoteAddress = '127.0.0.1',
): Promise<LoginResult> {
  const res = await app.inject({
    method: 'POST',
    url: '/v1/auth/login',
    payload: credentials,
    remoteAddress,
  });
  if (res.statusCode !== 200) throw new Error(`login answered ${res.statusCode}: ${res.body}`);
  return res.json<LoginResult>();
}

export interface SignedIn extends TestUser {
  token: string;
  refreshToken: string;
  headers: { authorization: string };
}

/**
 * A user of `role` in `clinicIds` (a new clinic if omitted), logged in through the real
 * login route: `const { headers } = await loginAs(app, { role: 'practitioner' })`.
 */
export async function loginAs(
  app: App,
  options: {
    role: Role;
    clinicIds?: string[];
    username?: string;
    authorisationId?: string;
    displayName?: string;
  },
): Promise<SignedIn> {
  const user = await createUser(app, options);
  const result = await login(app, { username: user.username, password: user.password });
  return {
    ...user,
    token: result.accessToken,
    refreshToken: result.refreshToken,
    headers: bearer(result.accessToken),
  };
}

/** Enrols and confirms TOTP for a signed-in user; returns the base32 secret. */
export async function enrollTotp(app: App, headers: { authorization: string }, at: Date) {
  const enroll = await app.inject({ method: 'POST', url: '/v1/auth/mfa/enroll', headers });
  if (enroll.statusCode !== 200)
    throw new Error(`enroll answered ${enroll.statusCode}: ${enroll.body}`);
  const { secret } = enroll.json<{ secret: string }>();
  const confirm = await app.inject({
    method: 'POST',
    url: '/v1/auth/mfa/confirm',
    headers,
    payload: { code: totpCode(secret, at.getTime()) },
  });
  if (confirm.statusCode !== 200)
    throw new Error(`confirm answered ${confirm.statusCode}: ${confirm.body}`);
  return secret;
}
