/** The audit store's hash chain: canonical encoding, verify on an intact chain, tamper table, retention. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { canonicalEventJson, chainHash, GENESIS_HASH } from '../src/audit/canonical.js';
import { createRedactor } from '../src/audit/redact.js';
import { type AuditStore, openAuditStore } from '../src/audit/store.js';
import { verifyChain } from '../src/audit/verify.js';
import { sampleEvent } from './audit-events.js';

function storeWith(t: Test, n: number): { store: AuditStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'aos-chain-'));
  const store = openAuditStore(dir);
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < n; i += 7) store.append(Array.from({ length: Math.min(7, n - i) }, (_, k) => sampleEvent(i + k)));
  return { store, dir };
}

t.test('canonical encoding: sorted keys, no whitespace, undefined left out, stable across key order', async (t) => {
  t.equal(canonicalEventJson({ b: 1, a: [3, { d: null, c: 'x' }], e: undefined }), '{"a":[3,{"c":"x","d":null}],"b":1}');
  t.equal(canonicalEventJson({ x: 1, y: 2 }), canonicalEventJson({ y: 2, x: 1 }));
  t.equal(chainHash(GENESIS_HASH, 1, '{}'), chainHash(GENESIS_HASH, 1, '{}'));
  t.not(chainHash(GENESIS_HASH, 1, '{}'), chainHash(GENESIS_HASH, 2, '{}'), 'the sequence number is covered');
});

t.test('an intact chain verifies; each event links to the one before', async (t) => {
  const { store } = storeWith(t, 50);
  const r = verifyChain(store);
  t.ok(r.ok, 'ok');
  t.equal(r.checked, 50);
  t.equal(r.headSeq, 50);
  const rows = store.query({});
  t.equal(rows[0].prev_hash, GENESIS_HASH);
  for (let i = 1; i < rows.length; i++) t.equal(rows[i].prev_hash, rows[i - 1].hash);
  t.equal(store.chain().head_hash, rows.at(-1)!.hash, 'the head row matches the last event');
});

type Tamper = { name: string; kind: string; seq: number | null; edit(s: AuditStore): void };
const TAMPERS: Tamper[] = [
  {
    name: 'body edited (decision flipped)',
    kind: 'modified',
    seq: 11,
    edit: (s) => s.db.prepare(`UPDATE audit_events SET body = replace(body, '"decision":"deny"', '"decision":"allow"') WHERE seq = 11`).run(),
  },
  {
    name: 'body edited with re-encoded JSON (cost added)',
    kind: 'modified',
    seq: 17,
    edit: (s) => {
      const row = s.db.prepare('SELECT body FROM audit_events WHERE seq = 17').get() as { body: string };
      s.db.prepare('UPDATE audit_events SET body = ? WHERE seq = 17').run(canonicalEventJson({ ...JSON.parse(row.body), cost_usd: 0 }));
    },
  },
  { name: 'query column edited (agent)', kind: 'modified', seq: 21, edit: (s) => s.db.prepare(`UPDATE audit_events SET agent_id = 'someone-else' WHERE seq = 21`).run() },
  {
    name: 'hash recomputed for an edited body (next event no longer links)',
    kind: 'deleted',
    seq: 31,
    edit: (s) => {
      const row = s.db.prepare('SELECT body, prev_hash FROM audit_events WHERE seq = 30').get() as { body: string; prev_hash: string };
      const body = canonicalEventJson({ ...JSON.parse(row.body), status: 201 });
      s.db.prepare('UPDATE audit_events SET body = ?, hash = ? WHERE seq = 30').run(body, chainHash(row.prev_hash, 30, body));
    },
  },
  { name: 'an event deleted in the middle', kind: 'deleted', seq: 26, edit: (s) => s.db.prepare('DELETE FROM audit_events WHERE seq = 25').run() },
  { name: 'the first event deleted', kind: 'deleted', seq: 2, edit: (s) => s.db.prepare('DELETE FROM audit_events WHERE seq = 1').run() },
  { name: 'the newest events deleted', kind: 'truncated', seq: 48, edit: (s) => s.db.prepare('DELETE FROM audit_events WHERE seq >= 48').run() },
  {
    name: 'an event inserted in the middle (later ones renumbered)',
    kind: 'inserted',
    seq: 12,
    edit: (s) => {
      s.db.prepare('UPDATE audit_events SET seq = -seq WHERE seq >= 12').run();
      s.db.prepare('UPDATE audit_events SET seq = -seq + 1 WHERE seq < 0').run();
      const prev = s.db.prepare('SELECT hash FROM audit_events WHERE seq = 11').get() as { hash: string };
      const body = canonicalEventJson(sampleEvent(999));
      const e = sampleEvent(999);
      s.db
        .prepare('INSERT INTO audit_events VALUES (12, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)')
        .run(`${e.id}x`, Date.parse(e.time), e.agent_id, e.team, e.decision, body, 'f'.repeat(64), chainHash('f'.repeat(64), 12, body));
      void prev;
    },
  },
  {
    name: 'an event appended behind the gateway',
    kind: 'inserted',
    seq: 51,
    edit: (s) => {
      const last = s.db.prepare('SELECT hash FROM audit_events WHERE seq = 50').get() as { hash: string };
      const e = sampleEvent(1000);
      const body = canonicalEventJson(e);
      s.db
        .prepare('INSERT INTO audit_events VALUES (51, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)')
        .run(e.id, Date.parse(e.time), e.agent_id, e.team, e.decision, e.workflow_id, body, last.hash, chainHash(last.hash, 51, body));
    },
  },
  {
    name: 'two events swapped',
    kind: 'reordered',
    seq: 40,
    edit: (s) => {
      s.db.prepare('UPDATE audit_events SET seq = -1 WHERE seq = 40').run();
      s.db.prepare('UPDATE audit_events SET seq = 40 WHERE seq = 41').run();
      s.db.prepare('UPDATE audit_events SET seq = 41 WHERE seq = -1').run();
    },
  },
];

t.test('tampering is detected and the first broken event named', async (t) => {
  for (const c of TAMPERS) {
    await t.test(c.name, async (t) => {
      const { store } = storeWith(t, 50);
      const ids = new Map(store.query({}).map((r) => [r.seq, r.id]));
      c.edit(store);
      const r = verifyChain(store);
      t.notOk(r.ok, 'verify fails');
      t.equal(r.broken?.kind, c.kind, r.broken?.message ?? '');
      t.equal(r.broken?.seq, c.seq, 'names the first broken event');
      if (c.kind !== 'truncated' && c.kind !== 'inserted') t.equal(r.broken?.id, store.query({}).find((x) => x.seq === c.seq)?.id ?? ids.get(c.seq!));
      t.match(r.broken?.message, new RegExp(`seq ${c.seq}`));
    });
  }
});

t.test('retention: by age and by size, from the oldest end; the rest still verifies from the anchor', async (t) => {
  const { store } = storeWith(t, 300);
  const cutoff = Date.parse(sampleEvent(100).time);
  t.equal(store.prune({ beforeMs: cutoff }), 100, 'events older than the cutoff deleted');
  t.equal(store.query({ limit: 1 })[0].seq, 101);
  t.ok(verifyChain(store).ok, 'verifies from the retention anchor');
  t.equal(store.chain().anchor_seq, 100);
  const before = store.sizeBytes();
  store.append(Array.from({ length: 2000 }, (_, i) => sampleEvent(300 + i)));
  const grown = store.sizeBytes();
  t.ok(grown > before);
  const n = store.prune({ maxBytes: Math.floor(grown / 2) });
  t.ok(n > 0 && store.sizeBytes() <= Math.floor(grown / 2), `size pruning deleted ${n} events`);
  t.ok(verifyChain(store).ok, 'still verifies');
  const left = store.query({}).length;
  t.equal(left, 2200 - n);
  t.equal(store.prune({ beforeMs: Date.UTC(2030, 0, 1) }), left, 'everything older goes');
  t.equal(store.query({}).length, 0);
  t.ok(verifyChain(store).ok, 'an empty chain after pruning everything verifies');
});

t.test('redaction: known credentials and common secret shapes', async (t) => {
  const redact = createRedactor(['my-provider-credential-123']);
  const cases: [string, RegExp][] = [
    ['key my-provider-credential-123 here', /\[REDACTED:credential\]/],
    ['sk-proj-abcdefghijklmnopqrstuvwx', /\[REDACTED:api_key\]/],
    ['AKIAABCDEFGHIJKLMNOP', /\[REDACTED:aws_access_key\]/],
    ['Authorization: Bearer abcdefghijklmnop1234', /Bearer \[REDACTED:bearer\]/],
    ['eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl', /\[REDACTED:jwt\]/],
    ['{"password":"hunter2"}', /"password":"\[REDACTED:secret_field\]"/],
    ['-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----', /^\[REDACTED:private_key\]$/],
  ];
  for (const [input, re] of cases) t.match(redact(input), re, input.slice(0, 30));
  t.equal(redact('nothing secret here'), 'nothing secret here');
});
