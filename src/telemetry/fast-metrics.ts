import type { Histogram, Registry } from 'prom-client';

// Metrics updated on every call, cheaper per update than prom-client's own, exposed through its registry.

/**
 * A histogram for the request path, in a prom-client registry, exposed exactly as prom-client's
 * own. An observation is a bucket search and three number writes on a series bound once per label
 * value: prom-client's histogram validates and hashes its labels and looks its bucket up by the
 * bound's decimal string on every observe (three per call), leaving garbage that outlives the call.
 */
export class FastHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    /** The one label, or null for a histogram without labels. */
    private readonly label: string | null,
    private readonly bounds: readonly number[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Histogram);
  }

  /** The series of a label value (the histogram's only series when it has no label); keep it. */
  of(value = ''): HistogramSeries {
    let s = this.series.get(value);
    if (s === undefined) {
      s = new HistogramSeries(this.bounds);
      this.series.set(value, s);
    }
    return s;
  }

  /** Zeroes every series (they stay bound where they are kept). */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  /** What prom-client's registry formats: bucket bounds as labels, the series' label beside them. */
  getForPromString() {
    const bucket = `${this.name}_bucket`;
    const values: PromValue[] = [];
    for (const [value, s] of this.series) {
      const shared: Record<string, string> = this.label === null ? {} : { [this.label]: value };
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i];
        values.push({ labels: { le: this.bounds[i] }, sharedLabels: shared, value: acc, metricName: bucket, exemplar: null });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: bucket, exemplar: null });
      values.push({ labels: {}, sharedLabels: shared, value: s.sum, metricName: `${this.name}_sum`, exemplar: undefined });
      values.push({ labels: {}, sharedLabels: shared, value: s.count, metricName: `${this.name}_count`, exemplar: undefined });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** The JSON form (registry.getMetricsAsJSON): the series' label after the bucket bound, as prom-client's. */
  async get() {
    const m = this.getForPromString();
    return { ...m, values: m.values.map(({ sharedLabels, labels, ...rest }) => ({ ...rest, labels: { ...labels, ...sharedLabels } })) };
  }
}

interface PromValue {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one past every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    this.counts[i] += 1;
    this.sum += value;
    this.count += 1;
  }
}

/** Increments of one series of a prom-client counter, not yet added to it. */
export interface Tally {
  n: number;
}

/**
 * Counter increments on the request path as plain additions (`tally.n += 1`), added to their
 * prom-client counters when the registry collects them (call `fold` from the counters' `collect`,
 * which runs before every scrape): a scrape sees every increment, and no call hashes labels.
 */
export class Tallies {
  private readonly list: { n: number; child: { inc(n: number): void } }[] = [];

  /** A tally for a counter's series, bound once (`counter.labels(...)`). */
  of(child: { inc(n: number): void }): Tally {
    const t = { n: 0, child };
    this.list.push(t);
    return t;
  }

  fold(): void {
    for (const t of this.list) {
      if (t.n > 0) {
        t.child.inc(t.n);
        t.n = 0;
      }
    }
  }
}
