/**
 * The write barrier: records a turn's calls need durable are written together at the end of the
 * turn, and a call waits for them before it is forwarded. Real files, real journal.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { openJournal } from '../src/audit/journal.js';
import { createSqliteStore } from '../src/metering/sqlite-store.js';
import { createWriteBarrier } from '../src/store/write-barrier.js';
import { sampleEvent } from './audit-events.js';

t.test('intents queued in one turn reach the file together, before ready() resolves', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-barrier-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const errors: unknown[] = [];
  const barrier = createWriteBarrier((err) => errors.push(err));
  const journal = openJournal(dir, 'audit.db', { barrier });
  t.equal(barrier.ready(), null, 'nothing queued: nothing to wait for');
  const segs = [1, 2, 3].map((i) => journal.intent(sampleEvent(i)));
  t.same(segs, [1, 1, 1], 'each intent belongs to the open segment');
  const ready = barrier.ready();
  t.ok(ready instanceof Promise, 'a call decided now has something to wait for');
  const file = join(dir, 'audit.db.journal.1');
  t.equal(readFileSync(file, 'utf8'), '', 'not written yet: still in this turn');
  await ready;
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  t.equal(lines.length, 3, 'written once the turn ended');
  t.ok(
    lines.every((l) => l.startsWith('I [')),
    'as intent lines',
  );
  t.equal(barrier.ready(), null, 'the next turn starts empty');
  t.equal(journal.outstanding(), 3);
  t.same(errors, []);
  journal.close(false);
});

t.test('a final line keeps the order: queued intents are written before it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-barrier-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const barrier = createWriteBarrier(() => {});
  const journal = openJournal(dir, 'audit.db', { barrier });
  journal.intent(sampleEvent(1));
  journal.append('F', sampleEvent(2));
  t.same(
    readFileSync(join(dir, 'audit.db.journal.1'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l[0]),
    ['I', 'F'],
    'the intent went first, at once',
  );
  await barrier.ready();
  journal.close(false);
});

t.test('a failed flush fails the calls that wait for it, is reported, and never crashes the process', async (t) => {
  const errors: unknown[] = [];
  const barrier = createWriteBarrier((err) => errors.push(err));
  let later = false;
  barrier.defer(() => {
    throw new Error('ENOSPC: no space left on device');
  });
  barrier.defer(() => {
    later = true;
  });
  await t.rejects(barrier.ready()!, /ENOSPC/, 'the waiting call fails');
  t.ok(later, 'the other flushes of the turn still ran');
  t.equal(errors.length, 1, 'reported once');
  // A turn nobody waits on (no call forwarded in it) fails without an unhandled rejection.
  barrier.defer(() => {
    throw new Error('EIO');
  });
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(errors.length, 2, 'reported, and the process is still here');
});

t.test('a budget reservation is logged with the turn, before the call may go on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-barrier-'));
  const barrier = createWriteBarrier(() => {});
  const store = createSqliteStore({ dataDir: dir, snapshotIntervalMs: 60_000, barrier });
  t.teardown(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const log = () =>
    readdirSync(dir)
      .filter((f) => f.startsWith('budgets-log.'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
  const line = { key: 'agent:a|usd|daily|2026-12-06', limitId: 'agent:a|usd|daily', limit: 1000, amount: 10, until: Date.now() + 86_400_000 };
  const out = store.reserve([line], 60_000);
  t.ok(!(out instanceof Promise) && out.ok, 'reserved in memory at once');
  t.notMatch(log(), /\["R"/, 'not logged yet: still in this turn');
  await barrier.ready();
  t.match(log(), /\["R","[^"]+",\d+,"agent:a\|usd\|daily\|2026-12-06",10,/, 'logged once the turn ended');
});
