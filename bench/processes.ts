/**
 * Child processes of the bench: each in its own process group (so `taskset … node …` and whatever
 * it starts die together), output kept as lines (a tail in memory, all of it in a log file), and
 * every group killed on the way out, whatever the way out is. Also the CPU counters the benches read
 * from /proc: a process's and the whole machine's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** All stdout, and the last lines of both streams (for error messages). */
  readonly stdout: string[];
  readonly tail: string[];
  /** Emits ('line', stream, text). */
  readonly lines: EventEmitter;
  exitCode: number | string | null;
}

const TAIL = 60;

export class ProcessGroup {
  private readonly children = new Set<Child>();

  start(name: string, argv: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile?: string } = {}): Child {
    const proc = spawn(argv[0], argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true, // its own process group: killed as a whole with kill(-pid)
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (proc.pid === undefined) throw new Error(`${name}: could not start ${argv[0]}`);
    const log: WriteStream | null = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : null;
    const lines = new EventEmitter();
    const child: Child = {
      name,
      proc,
      pid: proc.pid,
      lines,
      stdout: [],
      tail: [],
      exitCode: null,
      exited: new Promise((resolve) => {
        proc.on('exit', (code, signal) => {
          child.exitCode = code ?? signal ?? 'unknown';
          this.children.delete(child);
          resolve(child.exitCode);
        });
        proc.on('error', (err) => {
          child.tail.push(`spawn error: ${err.message}`);
          child.exitCode = 'spawn-error';
          this.children.delete(child);
          resolve('spawn-error');
        });
      }),
    };
    const split = (stream: 'stdout' | 'stderr') => {
      let rest = '';
      proc[stream]!.setEncoding('utf8');
      proc[stream]!.on('data', (data: string) => {
        log?.write(data);
        const parts = (rest + data).split('\n');
        rest = parts.pop()!;
        for (const line of parts) {
          if (stream === 'stdout') child.stdout.push(line);
          child.tail.push(`${stream}: ${line}`);
          if (child.tail.length > TAIL) child.tail.shift();
          lines.emit('line', stream, line);
        }
      });
      proc[stream]!.on('end', () => {
        if (rest !== '') {
          if (stream === 'stdout') child.stdout.push(rest);
          child.tail.push(`${stream}: ${rest}`);
          lines.emit('line', stream, rest);
        }
        if (stream === 'stderr') log?.end();
      });
    };
    split('stdout');
    split('stderr');
    this.children.add(child);
    return child;
  }

  /** Waits for a line matching `re` on the stream; fails if the process exits or time runs out. */
  waitForLine(child: Child, stream: 'stdout' | 'stderr', re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => {
        clearTimeout(timer);
        child.lines.off('line', onLine);
        fn();
      };
      const onLine = (s: string, line: string) => {
        const m = s === stream ? re.exec(line) : null;
        if (m) done(() => resolve(m));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${child.name}: no line matching ${re} on ${stream} within ${timeoutMs} ms\n${child.tail.join('\n')}`))), timeoutMs);
      child.lines.on('line', onLine);
      void child.exited.then((code) => done(() => reject(new Error(`${child.name} exited (${code}) before it was ready\n${child.tail.join('\n')}`))));
    });
  }

  /** Signals the child's process group, then SIGKILLs it if it has not exited after `graceMs`. */
  async stop(child: Child, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<number | string> {
    if (child.exitCode !== null) return child.exitCode;
    killGroup(child.pid, signal);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((r) => {
      timer = setTimeout(() => {
        killGroup(child.pid, 'SIGKILL');
        r();
      }, graceMs);
    });
    await Promise.race([child.exited, killed]);
    clearTimeout(timer);
    return child.exited;
  }

  async stopAll(graceMs = 5000): Promise<void> {
    await Promise.all([...this.children].map((c) => this.stop(c, 'SIGTERM', graceMs)));
  }

  /** Last resort, synchronous (usable from process 'exit'): SIGKILL every group still running. */
  killAllSync(): void {
    for (const c of this.children) killGroup(c.pid, 'SIGKILL');
    this.children.clear();
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/** utime + stime of a process (all its threads), in clock ticks; `children` adds its reaped children's. */
export function cpuTicks(pid: number | 'self', children = false): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
}

/** Busy and stolen ticks of the whole machine (all CPUs), from /proc/stat. */
export function machineTicks(): { busy: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6], steal: f[7] ?? 0 };
}
