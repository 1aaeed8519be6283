/**
 * A call held on an approval (src/approvals/local-store.ts `wait`) is answered at the approval's
 * deadline on the store's clock, never before: a timer that fires early (it counts from the event
 * loop's cached clock, behind the wall clock on a busy loop) waits the rest, so the approval the
 * call is told expired also reads expired.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLocalApprovalStore } from '../src/approvals/local-store.js';

t.test('a held call is answered at the approval’s deadline on the store’s clock, and the approval then reads expired', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aos-approvals-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The store's clock stands still: to it, the timer (1 s of real time) always fires early.
  const clock = { now: 1_800_000_000_000 };
  const store = createLocalApprovalStore({ dataDir: dir, metrics: { count() {}, webhookFailed() {}, held() {} }, onRequested() {}, now: () => clock.now });
  t.teardown(() => store.close());
  const r = await store.acquire({ agentId: 'a', requestHash: 'h', request: {}, approvalId: null, timeoutSeconds: 1, ttlSeconds: 60 });
  t.equal(r.outcome, 'pending');
  const id = (r as { approval: { id: string } }).approval.id;
  let answered: { status: string } | null = null;
  const waiting = store.wait(id, clock.now + 60_000, new AbortController().signal).then((a) => (answered = a));
  await new Promise((resolve) => setTimeout(resolve, 1300));
  t.equal(answered, null, 'not answered while the store’s clock is before the deadline');
  t.equal(store.get(id)!.status, 'pending');
  clock.now += 1000;
  await waiting;
  t.equal(answered!.status, 'expired', 'answered once the deadline passed, as expired');
  t.equal(store.get(id)!.status, 'expired', 'and the approval reads expired');
});
