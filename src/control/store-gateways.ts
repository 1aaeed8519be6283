/** The gateways in the store: who they are (credential, version, labels), what they applied, their audit head. */
import { GENESIS_HASH } from '../audit/canonical.js';
import { ControlHttpError, notFound } from './errors.js';
import type { HelloRequest } from './protocol.js';
import type { Mutate, Row, SqlDriver } from './sql.js';
import type { ActionInput, GatewayRecord } from './store.js';

export function gatewayOf(r: Row): GatewayRecord {
  const str = (v: unknown) => (v === null || v === undefined ? null : String(v));
  return {
    id: String(r.id),
    issuer: String(r.issuer),
    subject: String(r.subject),
    version: String(r.version),
    labels: JSON.parse(String(r.labels)) as Record<string, string>,
    snapshotVersion: Number(r.snapshot_version),
    snapshotError: str(r.snapshot_error),
    policyRevision: str(r.policy_revision),
    firstSeen: String(r.first_seen),
    lastSeen: String(r.last_seen),
    connected: Number(r.connected) > 0,
    revokedAt: str(r.revoked_at),
    revokedBy: str(r.revoked_by),
    auditSeq: Number(r.audit_seq),
    auditHash: String(r.audit_hash),
  };
}

export function createGatewayStatements(driver: SqlDriver, mutate: Mutate) {
  const one = async (id: string): Promise<GatewayRecord | null> => {
    const [row] = await driver.all('SELECT * FROM gateways WHERE id = ?', [id]);
    return row === undefined ? null : gatewayOf(row);
  };
  return {
    one,
    all: async () => (await driver.all('SELECT * FROM gateways ORDER BY id')).map(gatewayOf),

    /** Registers a gateway or refreshes it; its id stays bound to the credential that first used it. */
    hello: (h: HelloRequest, who: { issuer: string; subject: string }) =>
      driver.tx(async (sql) => {
        const at = new Date().toISOString();
        // Two first hellos of one id at once (two replicas): one inserts, both then update under the row lock.
        await sql.run(
          `INSERT INTO gateways (id, issuer, subject, version, labels, snapshot_version, policy_revision, first_seen, last_seen, connected, audit_seq, audit_hash)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?) ON CONFLICT (id) DO NOTHING`,
          [h.id, who.issuer, who.subject, h.version, JSON.stringify(h.labels), h.snapshotVersion, h.policyRevision, at, at, GENESIS_HASH],
        );
        const [row] = await sql.all(`SELECT issuer, subject, revoked_at FROM gateways WHERE id = ?${driver.lockClause}`, [h.id]);
        if (row.revoked_at !== null) throw new ControlHttpError('control_gateway_revoked', `gateway ${h.id} was revoked at ${row.revoked_at}`);
        if (row.issuer !== who.issuer || row.subject !== who.subject) throw new ControlHttpError('control_forbidden', `gateway id ${h.id} belongs to another credential`);
        await sql.run('UPDATE gateways SET version = ?, labels = ?, snapshot_version = ?, snapshot_error = NULL, policy_revision = ?, last_seen = ? WHERE id = ?', [
          h.version,
          JSON.stringify(h.labels),
          h.snapshotVersion,
          h.policyRevision,
          at,
          h.id,
        ]);
        return gatewayOf((await sql.all('SELECT * FROM gateways WHERE id = ?', [h.id]))[0]);
      }),

    async ack(id: string, version: number, error: string | null): Promise<void> {
      const at = new Date().toISOString();
      if (error === null) await driver.run('UPDATE gateways SET snapshot_version = ?, snapshot_error = NULL, last_seen = ? WHERE id = ?', [version, at, id]);
      else await driver.run('UPDATE gateways SET snapshot_error = ?, last_seen = ? WHERE id = ?', [`version ${version}: ${error}`, at, id]);
    },

    async seen(ids: readonly string[], connected: boolean | null): Promise<void> {
      if (ids.length === 0) return;
      const at = new Date().toISOString();
      const marks = ids.map(() => '?').join(', ');
      if (connected === null) await driver.run(`UPDATE gateways SET last_seen = ? WHERE id IN (${marks})`, [at, ...ids]);
      else await driver.run(`UPDATE gateways SET last_seen = ?, connected = ? WHERE id IN (${marks})`, [at, connected ? 1 : 0, ...ids]);
    },

    revoke: (id: string, action: ActionInput) =>
      mutate(action, async (sql, _v, at) => {
        const [row] = await sql.all(`SELECT * FROM gateways WHERE id = ?${driver.lockClause}`, [id]);
        if (row === undefined) throw notFound(`no gateway ${id}`);
        if (row.revoked_at !== null) throw new ControlHttpError('control_conflict', `gateway ${id} was already revoked at ${row.revoked_at}`);
        await sql.run('UPDATE gateways SET revoked_at = ?, revoked_by = ?, connected = 0 WHERE id = ?', [at, action.actor, id]);
        return { ...gatewayOf(row), revokedAt: at, revokedBy: action.actor, connected: false };
      }),
  };
}
