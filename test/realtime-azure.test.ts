/**
 * Azure OpenAI Realtime through the gateway: the SDK's `OpenAIRealtimeWS.azure` (preview path
 * `/openai/realtime?api-version=…&deployment=…`) and the GA path `/openai/v1/realtime?model=…`;
 * the agent's token comes in `api-key` and is replaced by the provider's; the deployment is
 * mapped to its model for the policy, prices and the audit event.
 */
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { costOf, loadPrices } from '../src/metering/prices.js';
import { realtimeUsage } from '../src/providers/openai-metering.js';
import { auditEvents, startHarness } from './helpers.js';
import { azureRealtime, closed, fakeUsage, opened, rawClient, startFakeRealtime, until } from './realtime-fixtures.js';

const BUNDLE = fileURLToPath(new URL('../policies/bundle.tar.gz', import.meta.url));
const PRICE = loadPrices(fileURLToPath(new URL('../config/prices.yaml', import.meta.url))).price('gpt-4o-mini-realtime-preview')!;
const AZURE_KEY = 'azure-provider-key-0123456789';
const REGISTRY = `
templates:
  voice: { version: 1, models: ["gpt-4o-mini-realtime*"], maxTokens: 512, budget: { daily_usd: 5 } }
agents:
  - { id: caller, team: support, template: voice }
`;

t.test('Azure realtime: api-key injected, deployments mapped, preview and GA paths', async (t) => {
  const fake = await startFakeRealtime({ apiKey: AZURE_KEY });
  t.teardown(() => fake.close());
  const h = await startHarness(
    t,
    {
      identity: { mode: 'required', registry: 'agents.yaml' },
      policy: { mode: 'enforce', bundle: { file: BUNDLE } },
      providers: { azure: { dialect: 'azure-openai', baseUrl: `${fake.url}/openai`, apiKey: AZURE_KEY, deployments: { 'rt-prod': 'gpt-4o-mini-realtime-preview', 'rt-big': 'gpt-realtime' } } },
      routes: [{ prefix: '/azure', provider: 'azure' }],
    },
    { files: { 'agents.yaml': REGISTRY } },
  );
  const token = await h.gateway.signer()!.mint({ subject: 'caller', audience: 'aos-gateway', ttlSec: 600 });

  const rt = await azureRealtime(`${h.url}/azure`, token, 'rt-prod', '2025-04-01-preview');
  await until(rt, 'session.created');
  const done = until(rt, 'response.done');
  rt.send({ type: 'response.create', response: { instructions: 'hi azure' } });
  await done;
  const bye = closed(rt.socket);
  rt.close();
  t.equal((await bye).code, 1000);

  const hs = fake.handshakes[0];
  t.equal(hs.path, '/openai/realtime?api-version=2025-04-01-preview&deployment=rt-prod', 'preview path, query as sent');
  t.equal(hs.headers['api-key'], AZURE_KEY, 'the provider key is injected as api-key');
  t.notOk(JSON.stringify(hs.headers).includes(token), "the agent's token never reaches Azure");
  t.notOk(hs.headers.authorization, 'no Authorization header upstream');

  // GA: the v1 path, the deployment as `model`.
  const ga = rawClient(`${h.url}/azure/v1/realtime?model=rt-prod`, [], { 'api-key': token });
  await opened(ga);
  const gaBye = closed(ga);
  ga.close(1000);
  await gaBye;
  t.equal(fake.handshakes[1].path, '/openai/v1/realtime?model=rt-prod');
  t.equal(fake.handshakes[1].headers['api-key'], AZURE_KEY);

  // A deployment the provider does not list, and one whose model the template does not allow.
  const refused = async (url: string) => (await opened(rawClient(url, [], { 'api-key': token })).catch((e) => e)) as { status: number; headers: Record<string, string> };
  const unknown = await refused(`${h.url}/azure/realtime?api-version=2025-04-01-preview&deployment=nope`);
  t.match(unknown, { status: 404, headers: { 'x-aos-error-code': 'aos_model_not_found' } });
  const big = await refused(`${h.url}/azure/realtime?api-version=2025-04-01-preview&deployment=rt-big`);
  t.match(big, { status: 403, headers: { 'x-aos-error-code': 'aos_policy_denied' } });
  t.equal(fake.handshakes.length, 2, 'refused before the provider');

  const events = await auditEvents(h, 4);
  const first = events.find((e) => e.path === '/azure/realtime' && e.status === 101)!;
  t.match(first, { provider: 'azure', model: 'gpt-4o-mini-realtime-preview', status: 101, outcome: 'completed', input_tokens: 100, output_tokens: 30, session: { responses: 1 } });
  t.ok(Math.abs(first.cost_usd! - costOf(realtimeUsage(fakeUsage(1))!, PRICE)) < 1e-12, 'charged at the deployment model’s realtime prices');
  t.match(
    events.find((e) => e.path === '/azure/v1/realtime'),
    { path: '/azure/v1/realtime', model: 'gpt-4o-mini-realtime-preview', status: 101, session: { responses: 0 } },
  );
});
