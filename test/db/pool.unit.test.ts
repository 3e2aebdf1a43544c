import t from 'tap';
import { createPool } from '../../src/db/pool.js';

t.test(
  'statement_timeout: 30 s unless a caller turns it off (the bench seeding 10 M events)',
  async (t) => {
    const url = 'postgres://nobody@127.0.0.1:1/none';
    const service = createPool(url);
    const seeding = createPool(url, { statementTimeoutMs: 0 });
    t.teardown(() => Promise.all([service.end(), seeding.end()]));
    t.equal((service.options as { statement_timeout?: number }).statement_timeout, 30_000);
    t.equal((seeding.options as { statement_timeout?: number }).statement_timeout, 0);
  },
);
