import t from 'tap';
import { shares, type CpuProfile, type Frame } from '../../bench/profile-shares.js';

/** A profile from stacks (root first) and how many 1 ms samples each leaf got. */
function profileOf(stacks: [Frame[], number][]): CpuProfile {
  const nodes: { id: number; callFrame: Frame; children: number[] }[] = [
    { id: 1, callFrame: { functionName: '(root)', url: '' }, children: [] },
  ];
  const samples: number[] = [];
  for (const [frames, count] of stacks) {
    let parent = nodes[0]!;
    for (const frame of frames) {
      const id = nodes.length + 1;
      const node = { id, callFrame: frame, children: [] as number[] };
      nodes.push(node);
      parent.children.push(id);
      parent = node;
    }
    for (let i = 0; i < count; i += 1) samples.push(parent.id);
  }
  return { nodes, samples, timeDeltas: samples.map(() => 1000) };
}

const f = (functionName: string, url: string): Frame => ({ functionName, url });
const pg = f('submit', 'file:///app/node_modules/pg/lib/query.js');
const writev = f('writev', '');
const reply = f('writePayload', 'file:///app/node_modules/fastify/lib/reply.js');
const recorder = f('sealBatch', 'file:///app/src/modules/audit/audit.chain.ts');
const open = f('open', 'file:///app/bench/.build/src/crypto/envelope.js');

t.test('a sample goes to the first category any frame of its stack belongs to', async (t) => {
  const profile = profileOf([
    [[pg, writev], 4], // the pg driver's socket write: a database round trip
    [[reply, writev], 2], // the same syscall under a reply: the framework's answer
    [[recorder, pg, writev], 1], // the audit recorder's insert: the audit guarantee
    [[open], 3],
    [[f('(idle)', '')], 50], // not busy: outside the denominator
    [[f('dispatch', 'node:inspector')], 7], // the profiler itself
    [[f('mystery', 'file:///elsewhere.js')], 0],
  ]);
  const { busyMs, shares: result } = shares(profile);
  t.equal(busyMs, 10);
  t.equal(result.get('database round trips'), 0.4);
  t.equal(result.get('framework and HTTP'), 0.2);
  t.equal(result.get('audit event'), 0.1);
  t.equal(result.get('crypto'), 0.3);
  t.equal(result.get('other'), undefined);
});

t.test('an empty profile has no shares', async (t) => {
  t.same(shares(profileOf([])).shares, new Map());
});
