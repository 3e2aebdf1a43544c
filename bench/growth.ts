/**
 * How a cost grows with the size of the work (`npm run bench -- --scale`, issue #20), from
 * measured points: pure arithmetic, no I/O (test/bench/growth.unit.test.ts).
 *
 * The cost is what one unit of work costs: seconds per request (1 / req/s), per row
 * (1 / rows/s), per MiB (1 / MiB/s), or a peak RSS. With `r` the cost at the largest size over
 * the cost at the smallest, and `k` the least-squares slope of ln(cost) over ln(size) (cost ∝
 * size^k):
 *   flat         r ≤ 1.3: no growth beyond the noise of a shared machine;
 *   log          it grows, but k < 0.7: far slower than the size (an index descent, a
 *                deeper B-tree, a share of the work that depends on the size);
 *   linear       0.7 ≤ k ≤ 1.3: in proportion to the size;
 *   superlinear  k > 1.3.
 */
export type GrowthLabel = 'flat' | 'log' | 'linear' | 'superlinear';

export interface Growth {
  label: GrowthLabel;
  /** Cost at the largest size / cost at the smallest. */
  costRatio: number;
  /** Largest size / smallest. */
  sizeRatio: number;
  /** The fitted exponent k (cost ∝ size^k). */
  exponent: number;
}

/** Within this ratio, largest to smallest, a cost counts as flat. */
export const FLAT_NOISE = 1.3;
/** From this exponent on, a cost counts as growing with the size itself. */
export const LINEAR_FROM = 0.7;
const SUPERLINEAR_FROM = 1.3;

export function classifyGrowth(sizes: readonly number[], costs: readonly number[]): Growth {
  if (sizes.length !== costs.length || sizes.length < 2) {
    throw new Error('classifyGrowth needs at least two sizes, one cost each');
  }
  if ([...sizes, ...costs].some((value) => !(value > 0) || !Number.isFinite(value))) {
    throw new Error('classifyGrowth needs positive, finite sizes and costs');
  }
  const order = sizes.map((_, index) => index).sort((a, b) => sizes[a]! - sizes[b]!);
  const first = order[0]!;
  const last = order.at(-1)!;
  const sizeRatio = sizes[last]! / sizes[first]!;
  if (!(sizeRatio > 1)) throw new Error('classifyGrowth needs sizes that differ');
  const costRatio = costs[last]! / costs[first]!;
  const xs = sizes.map(Math.log);
  const ys = costs.map(Math.log);
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const mx = mean(xs);
  const my = mean(ys);
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (ys[i]! - my);
    den += (x - mx) ** 2;
  });
  const exponent = num / den;
  const label: GrowthLabel =
    costRatio <= FLAT_NOISE
      ? 'flat'
      : exponent < LINEAR_FROM
        ? 'log'
        : exponent <= SUPERLINEAR_FROM
          ? 'linear'
          : 'superlinear';
  return { label, costRatio, sizeRatio, exponent };
}

/** The cost of a throughput figure (req/s, rows/s, MiB/s): its inverse. */
export const perUnit = (throughput: number) => 1 / Math.max(throughput, 1e-9);
