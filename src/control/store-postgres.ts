/**
 * The shared store: PostgreSQL, for control plane replicas. Writers are serialized by the fleet
 * version row (every mutation updates it first); each mutation ends with `pg_notify('aos_fleet',
 * version)`, which PostgreSQL delivers on commit to every replica LISTENing, so a change made on one
 * replica reaches the gateways streaming from another within milliseconds. The notification is an
 * optimization: replicas also poll the version (server.ts), so a lost one only delays.
 */
import pg from 'pg';
import type { Logger } from '../log.js';
import { CONTROL_MIGRATIONS, numbered, type Sql, type SqlDriver } from './sql.js';
import type { ControlStore } from './store.js';
import { createSqlStore } from './store-sql.js';

const CHANNEL = 'aos_fleet';
/** Any number: the advisory lock replicas take to migrate one at a time. */
const MIGRATION_LOCK = 7_340_001;
const INT8_OID = 20;

// BIGINT columns (versions, seqs, times) as numbers: they stay far below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

function wrap(client: pg.Pool | pg.PoolClient): Sql {
  return {
    all: async <T>(text: string, params: readonly unknown[] = []) => (await client.query(numbered(text), params as unknown[])).rows as T[],
    run: async (text, params = []) => (await client.query(numbered(text), params as unknown[])).rowCount ?? 0,
  };
}

async function migrate(pool: pg.Pool): Promise<void> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await c.query('CREATE TABLE IF NOT EXISTS control_schema (k INTEGER PRIMARY KEY, version INTEGER NOT NULL)');
    const { rows } = await c.query<{ version: number }>('SELECT version FROM control_schema WHERE k = 1');
    if (rows.length === 0) await c.query('INSERT INTO control_schema (k, version) VALUES (1, 0)');
    for (let i = rows[0]?.version ?? 0; i < CONTROL_MIGRATIONS.length; i++) await c.query(CONTROL_MIGRATIONS[i]);
    await c.query('UPDATE control_schema SET version = $1 WHERE k = 1', [CONTROL_MIGRATIONS.length]);
    await c.query('COMMIT');
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

// Longer than most functions: a factory whose body is the small functions it closes over (state shared without a class).
export async function openPostgresDriver(url: string, log: Logger): Promise<SqlDriver> {
  const pool = new pg.Pool({ connectionString: url, max: 10, types });
  // An idle pooled connection that drops is replaced on next use; say so and carry on.
  pool.on('error', (err) => log.warn('control store: a pooled PostgreSQL connection failed', { err }));
  await migrate(pool);
  const listeners: ((version: number) => void)[] = [];
  let listener: pg.Client | null = null;
  let closed = false;
  const listen = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: url, types });
    client.on('notification', (m) => {
      const version = Number(m.payload);
      if (Number.isInteger(version)) for (const l of listeners) l(version);
    });
    client.on('error', (err) => {
      log.warn('control store: the LISTEN connection failed; reconnecting (the version poll covers the gap)', { err });
      listener = null;
      client.end().catch(() => {});
      const retry = () => {
        if (!closed) listen().catch(() => setTimeout(retry, 1000).unref());
      };
      setTimeout(retry, 1000).unref();
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    listener = client;
  };
  await listen();
  const host = new URL(url).host;
  return {
    dialect: 'postgres',
    where: `postgres://${host}`,
    lockClause: ' FOR UPDATE',
    ...wrap(pool),
    async tx(fn, opts) {
      const c = await pool.connect();
      try {
        await c.query(opts?.consistent ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
        const out = await fn(wrap(c));
        await c.query('COMMIT');
        return out;
      } catch (err) {
        await c.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        c.release();
      }
    },
    announce: async (sql, version) => {
      await sql.all('SELECT pg_notify(?, ?)', [CHANNEL, String(version)]);
    },
    onAnnounce: (l) => {
      listeners.push(l);
    },
    async close() {
      closed = true;
      await listener?.end().catch(() => {});
      await pool.end();
    },
  };
}

export async function openPostgresStore(url: string, log: Logger): Promise<ControlStore> {
  return createSqlStore(await openPostgresDriver(url, log));
}
