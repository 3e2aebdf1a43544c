import { actorOf, type RequestContext } from '../../access/context.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database } from '../../db/pool.js';
import { isUniqueViolation } from '../../db/errors.js';
import { isOrganisationWide } from '../../access/roles.js';
import { BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed } from '../../errors.js';
import { idCursor } from '../../schemas/cursor.js';
import { etagOf, ifMatchHolds } from '../../schemas/etag.js';
import { toPublicUser, type PublicUser, type UserWithClinics } from '../../schemas/user.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { revokeUserSessions } from '../auth/auth.repository.js';
import type { PasswordHasher } from '../auth/password.js';
import { findClinicIds } from '../clinics/clinics.repository.js';
import {
  findUserById,
  insertUser,
  lockUserVersion,
  listUsers,
  replaceUserClinics,
  updateUser,
} from './users.repository.js';
import { CLINIC_REQUIRED, type CreateUserInput, type UpdateUserInput } from './users.schemas.js';

export interface UsersServiceDeps {
  db: Database;
  passwords: PasswordHasher;
  clock: () => Date;
  audit: AuditDoor;
}

export type UsersService = ReturnType<typeof createUsersService>;

/** The version each user answer was read at, for its ETag (set by get and update). */
const versions = new WeakMap<PublicUser, number>();

/** A user's strong ETag: its version counter (migrations/0029), never a personal value. */
export function userEtag(user: PublicUser): string | undefined {
  const version = versions.get(user);
  return version === undefined ? undefined : etagOf(version);
}

function present(row: UserWithClinics): PublicUser {
  const user = toPublicUser(row);
  versions.set(user, row.version);
  return user;
}

export function createUsersService({ db, passwords, clock, audit }: UsersServiceDeps) {
  async function assertClinicsExist(clinicIds: string[]) {
    const found = new Set(await findClinicIds(db, clinicIds));
    const missing = clinicIds.findIndex((id) => !found.has(id));
    if (missing >= 0) {
      throw new BadRequest('The request is not valid.', [
        { path: `body.clinicIds.${missing}`, message: 'no such clinic' },
      ]);
    }
  }

  return {
    /** `clinicIds` may be empty only for an admin or auditor (their clinics grant nothing). */
    async create(ctx: RequestContext, input: CreateUserInput): Promise<PublicUser> {
      await assertClinicsExist(input.clinicIds);
      const passwordHash = await passwords.hash(input.password);
      const id = uuidv7();
      try {
        await db.transaction(async (tx) => {
          await insertUser(tx, {
            id,
            username: input.username,
            displayName: input.displayName,
            role: input.role,
            passwordHash,
            authorisationId: input.authorisationId ?? null,
            profession: input.profession ?? null,
            now: clock(),
          });
          await replaceUserClinics(tx, id, input.clinicIds);
          await audit.write(tx, ctx, [
            { action: 'user.create', outcome: 'success', resourceType: 'user', resourceId: id },
          ]);
          // A user's names are personal values: only the id is kept; a replay re-reads it.
          await ctx.idempotency?.remember(tx, { resourceId: id });
        });
      } catch (error) {
        if (isUniqueViolation(error)) throw new Conflict('That username is already taken.');
        throw error;
      }
      return toPublicUser((await findUserById(db, id))!);
    },

    async get(ctx: RequestContext, id: string): Promise<PublicUser> {
      const user = await findUserById(db, id);
      if (!user) throw new NotFound('No such user.');
      await audit.record(ctx, [
        { action: 'user.read', outcome: 'success', resourceType: 'user', resourceId: user.id },
      ]);
      return present(user);
    },

    async list(ctx: RequestContext, page: { limit: number; cursor?: string | undefined }) {
      const after = idCursor.decode(page.cursor);
      const rows = await listUsers(db, { limit: page.limit + 1, after });
      const items = rows.slice(0, page.limit);
      await audit.record(
        ctx,
        items.map((user) => ({
          action: 'user.read',
          outcome: 'success' as const,
          resourceType: 'user',
          resourceId: user.id,
        })),
      );
      return {
        items: items.map(toPublicUser),
        nextCursor: rows.length > page.limit ? idCursor.encode(items.at(-1)!.id) : null,
      };
    },

    /**
     * A change of role, clinics or the disabled flag ends the user's sessions at once: the
     * next request with an old token answers 401, and a new login picks up the new rights.
     */
    async update(
      ctx: RequestContext,
      id: string,
      patch: UpdateUserInput,
      options: { ifMatch?: string | undefined } = {},
    ): Promise<PublicUser> {
      const actor = actorOf(ctx);
      if (patch.clinicIds) await assertClinicsExist(patch.clinicIds);
      await db.transaction(async (tx) => {
        const version = await lockUserVersion(tx, id);
        if (version === null) throw new NotFound('No such user.');
        if (options.ifMatch !== undefined && !ifMatchHolds(options.ifMatch, version)) {
          throw new PreconditionFailed(
            'The user has changed since you read it (If-Match); read it again and retry.',
          );
        }
        const current = (await findUserById(tx, id))!;
        const roleChanged = patch.role !== undefined && patch.role !== current.role;
        const disabledChanged = patch.disabled !== undefined && patch.disabled !== current.disabled;
        const clinicsChanged =
          patch.clinicIds !== undefined &&
          [...patch.clinicIds].sort().join() !== [...current.clinicIds].sort().join();
        // Nobody grants themselves rights or locks themselves out: another admin must do it.
        if (id === actor.userId && (roleChanged || disabledChanged || clinicsChanged)) {
          throw new Forbidden('You cannot change your own role, clinics or disabled flag.', {
            audit: {
              action: 'user.update',
              resourceType: 'user',
              resourceId: id,
              reason: 'own_rights',
            },
          });
        }
        const role = patch.role ?? current.role;
        if (!isOrganisationWide(role) && (patch.clinicIds ?? current.clinicIds).length === 0) {
          throw new BadRequest('The request is not valid.', [
            { path: 'body.clinicIds', message: CLINIC_REQUIRED },
          ]);
        }
        const at = clock();
        await updateUser(tx, id, {
          ...(patch.role !== undefined && { role: patch.role }),
          ...(patch.displayName !== undefined && { displayName: patch.displayName }),
          ...(patch.disabled !== undefined && { disabled: patch.disabled }),
          ...(patch.authorisationId !== undefined && { authorisationId: patch.authorisationId }),
          ...(patch.profession !== undefined && { profession: patch.profession }),
          updatedAt: at,
        });
        if (patch.clinicIds) await replaceUserClinics(tx, id, patch.clinicIds);
        const rightsChanged =
          roleChanged || (patch.disabled === true && !current.disabled) || clinicsChanged;
        if (rightsChanged) await revokeUserSessions(tx, id, 'rights_changed', at);
        await audit.write(tx, ctx, [
          { action: 'user.update', outcome: 'success', resourceType: 'user', resourceId: id },
        ]);
        await ctx.idempotency?.remember(tx, { resourceId: id });
      });
      return present((await findUserById(db, id))!);
    },
  };
}
