/** The request path's metrics (src/telemetry/fast-metrics.ts) expose exactly what prom-client's own would. */
import { Counter, Histogram, Registry } from 'prom-client';
import t from 'tap';
import { FastHistogram, Tallies } from '../src/telemetry/fast-metrics.js';

const BOUNDS = [0.00005, 0.0001, 0.00025, 0.001, 0.1];
// On a bound, between bounds, below the first, past the last, and a spread of random ones.
const VALUES = [0.00005, 0.0001, 0.00003, 0.0002, 0.5, 0.1, 0, ...Array.from({ length: 500 }, (_, i) => ((i * 7919) % 1000) / 5000)];

t.test('a histogram with a label: the same exposition, text and JSON, as prom-client given the same observations', async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['route'] as const, buckets: BOUNDS, registers: [theirs] });
  const fast = new FastHistogram('x_seconds', 'h', 'route', BOUNDS, ours);
  VALUES.forEach((v, i) => {
    const route = i % 3 === 0 ? 'openai/chat' : 'anthropic/"messages"\n';
    reference.labels(route).observe(v);
    fast.of(route).observe(v);
  });
  t.equal(await ours.metrics(), await theirs.metrics(), 'text exposition');
  t.same(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON(), 'JSON');
  t.equal(await ours.getSingleMetricAsString('x_seconds'), await theirs.getSingleMetricAsString('x_seconds'));
});

t.test('a histogram without labels; a value that is not a number is not observed; reset zeroes bound series', async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Histogram({ name: 'y_seconds', help: 'h', buckets: BOUNDS, registers: [theirs] });
  const fast = new FastHistogram('y_seconds', 'h', null, BOUNDS, ours);
  const series = fast.of();
  for (const v of VALUES) {
    reference.observe(v);
    series.observe(v);
  }
  series.observe(Number.NaN);
  series.observe(Number.POSITIVE_INFINITY);
  t.throws(() => reference.observe(Number.NaN), 'prom-client throws on the request path; this one does not');
  t.equal(await ours.metrics(), await theirs.metrics());
  t.match(await ours.metrics(), new RegExp(`^y_seconds_count ${VALUES.length}$`, 'm'));
  ours.resetMetrics();
  t.match(await ours.metrics(), /^y_seconds_count 0$/m, 'reset');
  series.observe(0.0002);
  t.match(await ours.metrics(), /^y_seconds_bucket\{le="0.00025"\} 1$/m, 'the series kept across a reset still counts');
});

// The order of series differs (a tally's series appears at its first collection): compared as sets of lines.
const lines = async (r: Registry) => (await r.metrics()).split('\n').sort();

t.test('tallies: counter increments added at collection equal prom-client increments; none is lost between scrapes', async (t) => {
  const theirs = new Registry();
  const ours = new Registry();
  const reference = new Counter({ name: 'c_total', help: 'h', labelNames: ['outcome'] as const, registers: [theirs] });
  const tallies = new Tallies();
  const counter = new Counter({ name: 'c_total', help: 'h', labelNames: ['outcome'] as const, registers: [ours], collect: () => tallies.fold() });
  const allow = tallies.of(counter.labels('allow'));
  const deny = tallies.of(counter.labels('deny'));
  for (let i = 0; i < 1000; i++) {
    const outcome = i % 7 === 0 ? 'deny' : 'allow';
    reference.labels(outcome).inc();
    (outcome === 'deny' ? deny : allow).n += 1;
    if (i === 500) t.same(await lines(ours), await lines(theirs), 'a scrape in between sees every increment so far');
  }
  t.same(await lines(ours), await lines(theirs));
  t.match(await ours.metrics(), /^c_total\{outcome="deny"\} 143$/m);
  t.same(await lines(ours), await lines(theirs), 'a second scrape adds nothing twice');
});
