import { Counter, Histogram, type Registry } from 'prom-client';

/** Shared memory's metrics. Labels: the operation and its outcome, both fixed sets. */
export interface MemoryMetrics {
  /** One operation that reached the memory stage, and what came of it. */
  op(op: string, outcome: string): void;
  /** Bytes of values written (put) or read (get, search). */
  bytes(direction: 'written' | 'read', n: number): void;
  /** Time the store took for one operation. */
  storeSeconds(op: string, seconds: number): void;
}

/** Registered once per process (the memory service lives across config reloads). */
export function createMemoryMetrics(registry: Registry): MemoryMetrics {
  const ops = new Counter({
    name: 'aos_memory_ops_total',
    help: 'Shared memory operations by operation (get, put, delete, list, search) and outcome',
    labelNames: ['op', 'outcome'] as const,
    registers: [registry],
  });
  const bytes = new Counter({ name: 'aos_memory_bytes_total', help: 'Bytes of shared memory values written and read', labelNames: ['direction'] as const, registers: [registry] });
  const store = new Histogram({
    name: 'aos_memory_store_seconds',
    help: 'Time the shared memory store took per operation',
    labelNames: ['op'] as const,
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
    registers: [registry],
  });
  return {
    op: (op, outcome) => ops.labels(op, outcome).inc(),
    bytes: (direction, n) => bytes.labels(direction).inc(n),
    storeSeconds: (op, seconds) => store.labels(op).observe(seconds),
  };
}
