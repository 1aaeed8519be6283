import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Starts a background thread running `file` (a module beside `from`, given as its import.meta.url).
 * From the sources (tsx) the thread registers the tsx loader itself (loader hooks of the main
 * thread do not reach workers); compiled, it imports the .js module.
 */
export function startWorker(from: string, file: string, data: object): Worker {
  const fromSource = from.endsWith('.ts');
  const module = new URL(`./${file}${fromSource ? '.ts' : '.js'}`, from).href;
  const boot = `const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx !== null) (await import(workerData.tsx)).register();
  await import(workerData.module);
})().catch((err) => { setImmediate(() => { throw err; }); });`;
  return new Worker(boot, { eval: true, workerData: { ...data, module, tsx: fromSource ? import.meta.resolve('tsx/esm/api') : null } });
}

/**
 * The nice value of background threads: they yield the core to the request thread. 19: on one core
 * at 32 calls in flight the request thread is preempted less often than at 10, and the audit writer
 * commits larger groups once it runs (bench/RESULTS-performance.md). It still gets a share of a
 * saturated core, and once its queue is full the intent journal holds the rest.
 */
const BACKGROUND_NICE = 19;

/**
 * Lowers the calling thread's scheduling priority (Linux: a thread has its own nice value, and
 * /proc/thread-self names it). A writer thread that shares a core with the request thread, as in a
 * sidecar with one CPU, then runs in the request thread's idle time instead of preempting it, which
 * keeps its commits out of the latency tail. Elsewhere, or when not permitted: nothing changes.
 */
export function yieldToRequestThread(): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (tid > 0) setPriority(tid, BACKGROUND_NICE);
  } catch {
    // not Linux, or no /proc: the thread keeps the process's priority
  }
}
