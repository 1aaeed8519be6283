import t from 'tap';
import { PROVIDER_KEY, startHarness } from './helpers.js';

t.test('chat completion passes through with the provider key injected', async (t) => {
  const h = await startHarness(t);
  const res = await fetch(`${h.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer agent-key' },
    body: JSON.stringify({ model: 'gpt-sample', messages: [{ role: 'user', content: 'hi' }] }),
  });
  t.equal(res.status, 200);
  const body = (await res.json()) as { choices: { message: { content: string } }[] };
  t.equal(body.choices[0].message.content, 'Echo: hi');
  t.equal(h.upstream.received.length, 1);
  t.equal(h.upstream.received[0].headers.authorization, `Bearer ${PROVIDER_KEY}`);
  t.ok(res.headers.get('x-aos-request-id'));
});
