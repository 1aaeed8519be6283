/**
 * A small control plane for the fleet tests: the gateway API of src/control/protocol.ts on loopback
 * (hello, the snapshot stream, acks, audit ingest with the chain checked record by record), its
 * state in memory so it survives a stop and a start on the same port. It stands in for `aos control`
 * where a test needs to make the control plane misbehave (a bad snapshot, an outage).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { chainHash, encodeEvent, GENESIS_HASH } from '../src/audit/canonical.js';
import type { AuditRecord } from '../src/audit/event.js';
import { type Ack, type FleetSnapshot, GATEWAY_ID_HEADER, GATEWAY_PATHS, type HelloRequest, type KillSwitch } from '../src/control/protocol.js';

export interface TestControlPlane {
  url: string;
  /** The last snapshot made (whole), and its parts to change. */
  snapshot(): FleetSnapshot;
  /** Makes a new snapshot from the last one with these parts changed, and streams it to every gateway. */
  publish(parts: Partial<Omit<FleetSnapshot, 'version' | 'at'>>): FleetSnapshot;
  /** Streams anything as a snapshot (a bad one), with the next version. */
  publishRaw(value: Record<string, unknown>): number;
  acks: (Ack & { gateway: string })[];
  hellos: (HelloRequest & { token: string })[];
  /** Every audit record received, by gateway id (in chain order, each once). */
  audit: Map<string, AuditRecord[]>;
  /** Gateways with the snapshot stream open. */
  streams(): string[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

export function kill(id: string, scope: KillSwitch['scope'], value: string | null, live: KillSwitch['live'] = 'cut'): KillSwitch {
  return { id, scope, value, live, reason: `test ${id}`, actor: 'tester', at: new Date().toISOString() };
}

export async function startTestControlPlane(registry: FleetSnapshot['registry']): Promise<TestControlPlane> {
  let current: FleetSnapshot = { version: 1, at: new Date().toISOString(), registry, suspensions: [], kills: [], budgetOverrides: {}, policy: null };
  let last = current.version;
  const streams = new Map<ServerResponse, string>();
  const sockets = new Set<Socket>();
  const acks: TestControlPlane['acks'] = [];
  const hellos: TestControlPlane['hellos'] = [];
  const audit = new Map<string, AuditRecord[]>();

  const send = (res: ServerResponse, value: unknown) => res.write(`event: snapshot\ndata: ${JSON.stringify(value)}\n\n`);
  const broadcast = (value: unknown) => {
    for (const res of streams.keys()) send(res, value);
  };
  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const readJson = async (req: IncomingMessage) => {
    let text = '';
    for await (const c of req) text += c;
    return JSON.parse(text);
  };
  const ingest = (gateway: string, records: AuditRecord[], res: ServerResponse) => {
    const held = audit.get(gateway) ?? [];
    audit.set(gateway, held);
    for (const r of records) {
      const head = held.at(-1);
      const headSeq = head?.seq ?? 0;
      if (r.seq <= headSeq) {
        if (held[r.seq - held[0].seq]?.hash === r.hash) continue;
        return json(res, 409, { error: { code: 'control_audit_gap', message: 'a different record at this seq' }, expected: headSeq + 1 });
      }
      if (r.seq !== headSeq + 1) return json(res, 409, { error: { code: 'control_audit_gap', message: `expected seq ${headSeq + 1}` }, expected: headSeq + 1 });
      if (r.prev_hash !== (head?.hash ?? GENESIS_HASH) || chainHash(r.prev_hash, r.seq, encodeEvent(r)) !== r.hash) {
        return json(res, 422, { error: { code: 'control_chain_broken', message: `record ${r.seq} does not verify` } });
      }
      held.push(r);
    }
    json(res, 200, { acked: held.at(-1)?.seq ?? 0 });
  };

  const server: Server = createServer(async (req, res) => {
    const gateway = String(req.headers[GATEWAY_ID_HEADER] ?? '');
    const token = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    if (gateway === '' || token === '') return json(res, 401, { error: { code: 'control_unauthenticated', message: 'no credential' } });
    const path = (req.url ?? '').split('?')[0];
    if (path === GATEWAY_PATHS.hello) {
      hellos.push({ ...(await readJson(req)), token });
      const held = audit.get(gateway)?.at(-1);
      return json(res, 200, { snapshotVersion: current.version, auditSeq: held?.seq ?? 0, auditHash: held?.hash ?? GENESIS_HASH });
    }
    if (path === GATEWAY_PATHS.acks) {
      acks.push({ ...(await readJson(req)), gateway });
      return res.writeHead(204).end();
    }
    if (path === GATEWAY_PATHS.audit) return ingest(gateway, (await readJson(req)).records, res);
    if (path === GATEWAY_PATHS.snapshots) {
      const after = Number(new URL(req.url!, 'http://x').searchParams.get('after') ?? 0);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': hello\n\n');
      streams.set(res, gateway);
      res.on('close', () => streams.delete(res));
      if (current.version > after) send(res, current);
      return;
    }
    json(res, 404, { error: { code: 'control_not_found', message: path } });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let port = 0;
  const start = () =>
    new Promise<void>((resolve) =>
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        resolve();
      }),
    );
  await start();
  return {
    url: `http://127.0.0.1:${port}`,
    snapshot: () => current,
    publish(parts) {
      last += 1;
      current = { ...current, ...parts, version: last, at: new Date().toISOString() };
      broadcast(current);
      return current;
    },
    publishRaw(value) {
      last += 1;
      broadcast({ ...value, version: last });
      return last;
    },
    acks,
    hellos,
    audit,
    streams: () => [...streams.values()],
    async stop() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await closed;
    },
    start,
  };
}
