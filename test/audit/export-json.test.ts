import { randomUUID } from 'node:crypto';
import t from 'tap';
import {
  streamAuditEvents,
  streamAuditEventsJson,
} from '../../src/modules/audit/audit.repository.js';
import { buildTestApp } from '../helpers/app.js';

/**
 * The ndjson export takes each line as PostgreSQL renders it (row_to_json): it must be, byte
 * for byte, what JSON.stringify made of the same event before, for any text an event can hold.
 */
t.test('PostgreSQL renders each export line exactly as JSON.stringify does', async (t) => {
  const { db } = await buildTestApp(t);
  const awkward = [
    'plain',
    'quote " backslash \\ slash /',
    'controls \u0001\u0008\u0009\u000a\u000c\u000d\u001f and DEL \u007f',
    'unicode æøå, ✓, 😀, line separator \u2028 paragraph \u2029',
    '<script>&amp;</script>',
  ];
  for (const [index, text] of awkward.entries()) {
    await db.pool.query(
      `INSERT INTO audit_events (id, at, actor_id, actor_role, action, outcome, resource_type,
         resource_id, client_id, request_id, ip, user_agent, break_glass, reason, purpose_of_use)
       VALUES ($1, $2, $3, 'practitioner', 'journal.read', 'success', 'client', $4, $5, $6,
         '::1', $7, $8, $9, $10)`,
      [
        randomUUID(),
        new Date(Date.UTC(2031, 0, 1, 0, 0, index, 123)).toISOString(),
        index % 2 ? null : randomUUID(),
        `res-${index}`,
        index % 2 ? randomUUID() : null,
        `req-${index}`,
        text,
        index % 2 === 0,
        text,
        index % 3 ? null : 'treatment',
      ],
    );
  }
  const filter = { from: '2031-01-01T00:00:00Z' };
  const objects: string[] = [];
  for await (const event of streamAuditEvents(db.pool, filter, 2)) {
    objects.push(JSON.stringify(event));
  }
  const lines: string[] = [];
  for await (const line of streamAuditEventsJson(db.pool, filter, 2)) lines.push(line);
  t.equal(lines.length, awkward.length);
  t.same(lines, objects);
});
