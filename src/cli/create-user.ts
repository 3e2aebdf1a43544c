import { parseArgs } from 'node:util';
import { SYSTEM_CONTEXT } from '../access/context.js';
import { isOrganisationWide, ROLES, type Role } from '../access/roles.js';
import { createDatabase } from '../db/pool.js';
import { migrate } from '../db/migrate.js';
import {
  createPasswordHasher,
  PRODUCTION_PASSWORD_HASHING,
  passwordLengthOk,
} from '../modules/auth/password.js';
import { createAuditRecorder } from '../modules/audit/audit.recorder.js';
import { createLogger } from '../logger.js';
import { createUsersService } from '../modules/users/users.service.js';
import { USERNAME_PATTERN } from '../modules/users/users.schemas.js';
import { withDatabase, type CliCommand } from './context.js';

const USAGE =
  'usage: npm run cli -- create-user --username NAME --role ROLE [--display-name TEXT] [--clinic ID]...\n' +
  '  The password is read from standard input (first line), never from the command line,\n' +
  '  e.g. printf "%s\\n" "$PASSWORD" | npm run cli -- create-user --username anna --role admin\n';

async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password (12 to 128 characters): ');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // Only the line ending is removed: the password is taken exactly as typed.
  return Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
}

/** Creates a user from the command line (e.g. a second admin, or staff in bulk by script). */
export const createUserCommand: CliCommand = {
  summary: 'create a user (password on standard input)',
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        options: {
          username: { type: 'string' },
          role: { type: 'string' },
          'display-name': { type: 'string' },
          clinic: { type: 'string', multiple: true },
        },
        strict: true,
      }));
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n${USAGE}`);
      return 2;
    }
    const { username, role } = values;
    const clinicIds = values.clinic ?? [];
    if (!username || !USERNAME_PATTERN.test(username)) {
      process.stderr.write(`--username must be 3 to 64 of letters, digits and . _ @ -\n${USAGE}`);
      return 2;
    }
    if (!role || !(ROLES as readonly string[]).includes(role)) {
      process.stderr.write(`--role must be one of ${ROLES.join(', ')}\n${USAGE}`);
      return 2;
    }
    // Admins and auditors are organisation-wide (their clinics grant nothing); staff need one.
    if (clinicIds.length === 0 && !isOrganisationWide(role as Role)) {
      process.stderr.write(`--clinic is required (at least one) for role ${role}\n${USAGE}`);
      return 2;
    }
    const password = await readPassword();
    if (!passwordLengthOk(password)) {
      process.stderr.write('the password must be 12 to 128 characters\n');
      return 2;
    }
    return withDatabase(async ({ pool }) => {
      await migrate(pool);
      // The user and its audit event commit together, as through the API (actor: none).
      const audit = createAuditRecorder({ pool, log: createLogger('warn') });
      const users = createUsersService({
        db: createDatabase(pool),
        passwords: createPasswordHasher(PRODUCTION_PASSWORD_HASHING),
        clock: () => new Date(),
        audit,
      });
      try {
        const user = await users.create(SYSTEM_CONTEXT, {
          username,
          password,
          role: role as Role,
          displayName: values['display-name'] ?? username,
          clinicIds,
        });
        process.stdout.write(`created user ${user.id} (${user.role})\n`);
        return 0;
      } finally {
        await audit.close();
      }
    });
  },
};
