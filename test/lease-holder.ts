/**
 * A gateway's budget store that takes a lease and then dies (test/budget-leases.test.ts): it
 * settles 100 calls over ~0.3 s, holds 5 more open, prints what it did once the lease holds them, and waits to
 * be killed with SIGKILL. Run: `node --import tsx test/lease-holder.ts <redis url> <key prefix>`.
 */
import { createLogger } from '../src/log.js';
import { createRedisStore } from '../src/metering/redis-store.js';

const [url, keyPrefix] = process.argv.slice(2);
const store = await createRedisStore({ url, keyPrefix, failMode: 'closed', localFraction: 0.1, commandTimeoutMs: 1000, leaseSyncMs: 20, log: createLogger('silent') });
const line = { key: 'agent:dies|usd|daily|p', limitId: 'agent:dies|usd|daily', limit: 10_000_000, amount: 1000, until: Date.now() + 3_600_000 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let settled = 0;
let leased = 0;
for (let i = 0; i < 100; i++) {
  const out = store.reserve([line], 60_000);
  if (!(out instanceof Promise)) leased++;
  const r = await out;
  if (!r.ok) throw new Error('refused');
  await store.settle(r.id, [line], [700]);
  settled += 700;
  await sleep(3); // steady traffic: syncs in between grant the lease and push the spend
}
// Five calls left open against the lease (one decided by Redis instead, during a sync, is given back).
let held = 0;
let heldLeased = 0;
while (heldLeased < 5) {
  const out = store.reserve([line], 60_000);
  const r = await out;
  if (!r.ok) throw new Error('refused');
  if (out instanceof Promise) {
    await store.settle(r.id, [line], [0]);
    await sleep(1);
    continue;
  }
  heldLeased++;
  held += 1000;
}
await sleep(60);
process.stdout.write(`${JSON.stringify({ settled, held, leased, heldLeased })}\n`);
setInterval(() => {}, 1_000);
