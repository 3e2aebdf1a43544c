import t from 'tap';
import { classifyGrowth, perUnit } from '../../bench/growth.js';

const sizes = [10_000, 100_000, 1_000_000];

t.test('a cost that stays within the noise band is flat', async (t) => {
  const growth = classifyGrowth(
    sizes,
    [1, 1.2, 0.9].map((ms) => ms / 1000),
  );
  t.equal(growth.label, 'flat');
  t.equal(growth.sizeRatio, 100);
  t.ok(Math.abs(growth.costRatio - 0.9) < 1e-9);
});

t.test('a cost that follows ln(size) (a B-tree descent) is log', async (t) => {
  const growth = classifyGrowth(
    sizes,
    sizes.map((n) => Math.log(n)),
  );
  t.equal(growth.label, 'log');
  t.ok(growth.costRatio > 1.3 && growth.exponent < 0.7, JSON.stringify(growth));
});

t.test('a cost proportional to the size is linear, exponent 1', async (t) => {
  const growth = classifyGrowth(
    sizes,
    sizes.map((n) => n * 3e-6),
  );
  t.equal(growth.label, 'linear');
  t.ok(Math.abs(growth.exponent - 1) < 1e-9);
});

t.test('quadratic cost is superlinear', async (t) => {
  t.equal(classifyGrowth([1, 10], [1, 100]).label, 'superlinear');
});

t.test(
  'throughput figures are classified by their inverse, order of points does not matter',
  async (t) => {
    // req/s falling tenfold as the data set grows a hundredfold: cost per request ∝ size^0.5.
    const growth = classifyGrowth([1_000_000, 10_000], [perUnit(100), perUnit(1000)]);
    t.equal(growth.label, 'log');
    t.ok(Math.abs(growth.exponent - 0.5) < 1e-9);
    t.ok(Math.abs(growth.costRatio - 10) < 1e-9);
    // The same fall over a tenfold size step is linear.
    t.equal(classifyGrowth([10_000, 100_000], [perUnit(1000), perUnit(100)]).label, 'linear');
  },
);

t.test('refuses what it cannot classify', async (t) => {
  t.throws(() => classifyGrowth([1], [1]));
  t.throws(() => classifyGrowth([1, 2], [1]));
  t.throws(() => classifyGrowth([1, 2], [0, 1]));
  t.throws(() => classifyGrowth([5, 5], [1, 2]));
});
