/** The gateway's background threads (audit writer, budget snapshots) yield the core to the request thread. */
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { auditEvents, startHarness } from './helpers.js';

/** Each thread of this process: its id and nice value (/proc/self/task/<tid>/stat, field 19). */
function threads(): { tid: number; nice: number }[] {
  return readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { tid: Number(tid), nice: Number(fields[16]) };
  });
}

t.test('the audit writer runs at nice 19; the request thread keeps its priority', async (t) => {
  const before = threads().filter((x) => x.nice === 19).length;
  const h = await startHarness(t);
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-sample', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await res.arrayBuffer();
  await auditEvents(h, 1);
  const now = threads();
  t.ok(now.filter((x) => x.nice === 19).length > before, `a thread at nice 19 was started (${JSON.stringify(now)})`);
  t.equal(now.find((x) => x.tid === process.pid)?.nice, 0, 'the request thread is not niced');
});
