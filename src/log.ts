/** Structured JSON lines on stderr. Levels below the configured one are no-ops. */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  setLevel(level: Level): void;
}

const noop = () => {};

export function createLogger(level: Level = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const logger = {} as Logger;
  const emit = (lvl: Level) => (msg: string, fields?: Record<string, unknown>) => write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields }, errorReplacer)}\n`);
  logger.setLevel = (next: Level) => {
    for (const l of ['debug', 'info', 'warn', 'error'] as const) logger[l] = ORDER[l] >= ORDER[next] ? emit(l) : noop;
  };
  logger.setLevel(level);
  return logger;
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return { name: value.name, message: value.message, ...(code ? { code } : {}) };
  }
  return value;
}
