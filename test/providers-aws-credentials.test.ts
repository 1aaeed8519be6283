/**
 * Bedrock with temporary AWS credentials the gateway obtains from STS: the pod's web identity (EKS
 * IRSA: AssumeRoleWithWebIdentity with the token file's contents), a role assumed with the
 * gateway's base keys (AssumeRole, itself SigV4-signed), and a role chained from the web identity.
 * A local fake STS (Query API, XML) issues short-lived credentials; the fake Bedrock verifies the
 * gateway's signature with them, session token included, and refuses them once expired. The
 * credentials are cached (one STS call for concurrent requests) and replaced before they expire,
 * without a call waiting for it or failing. Clients are the official BedrockRuntimeClient.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BedrockRuntimeClient, ConverseCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import t, { type Test } from 'tap';
import { startHarness } from './helpers.js';
import { type BedrockServer, type StsServer, startBedrockServer, startStsServer } from './provider-servers.js';

const REGION = 'us-east-1';
const SONNET = 'anthropic.claude-sonnet-4-20250514-v1:0';
const POD_ROLE = 'arn:aws:iam::111122223333:role/aos-gateway-pod';
const BEDROCK_ROLE = 'arn:aws:iam::444455556666:role/bedrock-invoker';
const BASE_KEYS = { accessKeyId: 'AKIABASEEXAMPLE', secretAccessKey: 'base-secret-access-key-example' };
const POD_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.pod-token-1.sig';

async function clouds(t: Test, sts: Parameters<typeof startStsServer>[0]): Promise<{ sts: StsServer; bedrock: BedrockServer }> {
  const s = await startStsServer(sts);
  // Bedrock accepts only credentials STS issued: the base keys alone are refused.
  const bedrock = await startBedrockServer({ credentials: (id) => s.credentials(id) });
  t.teardown(async () => {
    await bedrock.close();
    await s.close();
  });
  return { sts: s, bedrock };
}

async function gateway(t: Test, bedrock: BedrockServer, auth: Record<string, unknown>, opts: { files?: Record<string, string>; env?: Record<string, string> } = {}) {
  const h = await startHarness(
    t,
    { providers: { bedrock: { dialect: 'bedrock', baseUrl: bedrock.url, auth: { kind: 'aws-sigv4', region: REGION, ...auth } } }, routes: [{ prefix: '/bedrock', provider: 'bedrock' }] },
    opts,
  );
  const client = new BedrockRuntimeClient({
    region: REGION,
    endpoint: `${h.url}/bedrock`,
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
    credentials: { accessKeyId: 'AKIDPLACEHOLDER', secretAccessKey: 'placeholder' },
  });
  const converse = async (text: string) => {
    const r = await client.send(new ConverseCommand({ modelId: SONNET, messages: [{ role: 'user', content: [{ text }] }] }));
    return r.output?.message?.content?.[0].text;
  };
  return Object.assign(h, { converse });
}

const keyOf = (authorization: string | undefined) => /Credential=([^/]+)\//.exec(authorization ?? '')?.[1];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('web identity (EKS IRSA): AssumeRoleWithWebIdentity with the token file, cached, refreshed before expiry', async (t) => {
  const { sts, bedrock } = await clouds(t, { roles: [POD_ROLE], webIdentityToken: POD_TOKEN });
  sts.delayMs = 100;
  const h = await gateway(t, bedrock, { roleArn: POD_ROLE, webIdentityTokenFile: 'token', stsEndpoint: sts.url }, { files: { token: POD_TOKEN } });

  const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => h.converse(`call ${i}`)));
  t.same(
    answers,
    [1, 2, 3, 4, 5].map((i) => `Echo: call ${i}`),
  );
  t.same(bedrock.badSignatures, [], 'Bedrock verified every signature with the temporary credentials');
  t.equal(sts.issued.length, 1, 'five concurrent calls, one STS call (single flight)');
  const form = new URLSearchParams(sts.received[0].body);
  t.match(Object.fromEntries(form), { Action: 'AssumeRoleWithWebIdentity', RoleArn: POD_ROLE, RoleSessionName: 'aos-gateway', WebIdentityToken: POD_TOKEN });
  const [first] = sts.issued;
  t.ok(
    bedrock.received.every((r) => keyOf(r.headers.authorization) === first.accessKeyId && r.headers['x-amz-security-token'] === first.sessionToken),
    'signed with the temporary key, the session token sent and signed',
  );
  t.ok(bedrock.received.every((r) => r.headers['x-amz-security-token'] !== undefined && /SignedHeaders=[^,]*x-amz-security-token/.test(r.headers.authorization ?? '')));

  t.test('short-lived credentials: replaced in the background before they expire (a rotated token file reread); calls never wait or fail', async (t) => {
    // Credentials live 6 s: refreshed from a fifth of their life before expiry (4.8 s in). STS answers
    // in 500 ms, so a call that waited for the refresh would take that long.
    sts.lifetimeSec = 6;
    sts.delayMs = 0;
    const h2 = await gateway(t, bedrock, { roleArn: POD_ROLE, webIdentityTokenFile: 'token', stsEndpoint: sts.url }, { files: { token: POD_TOKEN } });
    const n = sts.issued.length;
    t.equal(await h2.converse('first'), 'Echo: first');
    t.equal(sts.issued.length, n + 1);
    const mine = sts.issued[n];
    // The kubelet rotates the projected token; STS accepts only the new one from now on.
    writeFileSync(join(h2.dir, 'token'), 'eyJhbGciOiJSUzI1NiJ9.pod-token-2.sig');
    sts.webIdentityToken = 'eyJhbGciOiJSUzI1NiJ9.pod-token-2.sig';
    sts.delayMs = 500;
    const slowest: number[] = [];
    const failures: unknown[] = [];
    const until = mine.expiresAt + 1500;
    let i = 0;
    while (Date.now() < until) {
      const started = performance.now();
      await h2.converse(`tick ${i++}`).catch((err: unknown) => failures.push(err));
      slowest.push(performance.now() - started);
      await sleep(100);
    }
    t.same(failures, [], 'no call failed across the refresh and the old credentials expiring');
    t.same(bedrock.badSignatures, []);
    t.ok(sts.issued.length >= n + 2, `STS called again (${sts.issued.length - n} credentials issued)`);
    const next = sts.issued[n + 1];
    t.ok(next.at < mine.expiresAt, `new credentials issued ${mine.expiresAt - next.at} ms before the first credentials expired`);
    t.equal(new URLSearchParams(sts.received.at(-1)!.body).get('WebIdentityToken'), sts.webIdentityToken, 'the rotated token was read from the file');
    t.ok(Math.max(...slowest) < 450, `no call waited for the refresh (slowest ${Math.max(...slowest).toFixed(0)} ms, STS takes 500 ms)`);
    const late = bedrock.received.filter((r) => r.body.includes('tick')).at(-1)!;
    t.equal(keyOf(late.headers.authorization), next.accessKeyId, 'the calls after the refresh are signed with the new credentials');
  });

  t.test('STS refuses the token: 502 InternalServerException naming STS and its code, nothing sent to Bedrock', async (t) => {
    const h3 = await gateway(t, bedrock, { roleArn: POD_ROLE, webIdentityTokenFile: 'token', stsEndpoint: sts.url }, { files: { token: 'not-the-token' } });
    sts.delayMs = 0;
    const n = bedrock.received.length;
    const err = (await h3.converse('x').catch((e: unknown) => e)) as Error & { $metadata: { httpStatusCode: number } };
    t.equal(err.name, 'InternalServerException');
    t.equal(err.$metadata.httpStatusCode, 502);
    t.match(err.message, new RegExp(`could not obtain a credential for provider bedrock: STS AssumeRoleWithWebIdentity for ${POD_ROLE} failed: InvalidIdentityToken`));
    t.notMatch(err.message, /not-the-token/, 'the token is not in the message');
    t.equal(bedrock.received.length, n);
    t.match(await (await fetch(`${h3.admin}/metrics`)).text(), /aos_upstream_errors_total\{provider="bedrock",code="credential"\} 1/);
  });
});

t.test("AssumeRole with the gateway's base keys: the STS call is SigV4-signed by them, external id passed", async (t) => {
  const { sts, bedrock } = await clouds(t, { roles: [BEDROCK_ROLE], callers: (id) => (id === BASE_KEYS.accessKeyId ? BASE_KEYS : undefined), externalId: 'aos-ext-42' });
  const h = await gateway(t, bedrock, { roleArn: BEDROCK_ROLE, externalId: 'aos-ext-42', roleSessionName: 'gw-test', ...BASE_KEYS, stsEndpoint: sts.url });
  t.equal(await h.converse('assumed'), 'Echo: assumed');
  t.same(bedrock.badSignatures, []);
  t.equal(sts.issued.length, 1);
  t.match(Object.fromEntries(new URLSearchParams(sts.received[0].body)), { Action: 'AssumeRole', RoleArn: BEDROCK_ROLE, RoleSessionName: 'gw-test', ExternalId: 'aos-ext-42' });
  t.match(sts.received[0].headers.authorization, new RegExp(`Credential=${BASE_KEYS.accessKeyId}/\\d{8}/${REGION}/sts/aws4_request`), 'AssumeRole signed by the base keys');
  t.equal(keyOf(bedrock.received[0].headers.authorization), sts.issued[0].accessKeyId, 'Bedrock sees the role, never the base keys');

  t.test('a wrong external id: STS AccessDenied in the 502', async (t) => {
    const bad = await gateway(t, bedrock, { roleArn: BEDROCK_ROLE, externalId: 'wrong', ...BASE_KEYS, stsEndpoint: sts.url });
    const err = (await bad.converse('x').catch((e: unknown) => e)) as Error;
    t.match(err.message, /STS AssumeRole for arn:aws:iam::444455556666:role\/bedrock-invoker failed: AccessDenied/);
  });
});

t.test("role chaining from the environment's web identity (IRSA variables, then roleArn)", async (t) => {
  const { sts, bedrock } = await clouds(t, { roles: [POD_ROLE, BEDROCK_ROLE], webIdentityToken: POD_TOKEN });
  const dir = mkdtempSync(join(tmpdir(), 'aos-irsa-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), POD_TOKEN);
  const env = { AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'), AWS_ROLE_ARN: POD_ROLE, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
  const h = await gateway(t, bedrock, { roleArn: BEDROCK_ROLE, stsEndpoint: sts.url }, { env });
  t.equal(await h.converse('chained'), 'Echo: chained');
  t.same(bedrock.badSignatures, []);
  t.same(
    sts.issued.map((c) => [c.action, c.roleArn]),
    [
      ['AssumeRoleWithWebIdentity', POD_ROLE],
      ['AssumeRole', BEDROCK_ROLE],
    ],
  );
  t.equal(keyOf(sts.received[1].headers.authorization), sts.issued[0].accessKeyId, "AssumeRole signed by the pod role's credentials");
  t.equal(keyOf(bedrock.received[0].headers.authorization), sts.issued[1].accessKeyId);

  t.test('the IRSA variables alone (no keys, no roleArn): the pod role signs', async (t) => {
    const h2 = await gateway(t, bedrock, { stsEndpoint: sts.url }, { env });
    t.equal(await h2.converse('pod role'), 'Echo: pod role');
    t.equal(sts.issued.at(-1)!.action, 'AssumeRoleWithWebIdentity');
    t.equal(keyOf(bedrock.received.at(-1)!.headers.authorization), sts.issued.at(-1)!.accessKeyId);
  });
});

t.test('config: the aws-sigv4 credential sources and their mistakes', async (t) => {
  const { parseConfig } = await import('../src/config/load.js');
  const dir = mkdtempSync(join(tmpdir(), 'aos-aws-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'token'), POD_TOKEN);
  const noKeys = { AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_SESSION_TOKEN: undefined } as Record<string, string | undefined>;
  const parse = (auth: string, env: Record<string, string | undefined> = {}) => {
    const text = `providers:\n  br: { dialect: bedrock, baseUrl: "https://bedrock-runtime.us-east-1.amazonaws.com", auth: { kind: aws-sigv4, region: us-east-1, ${auth} } }\nroutes: [{ prefix: /br, provider: br }]\n`;
    try {
      const auth = parseConfig(text, join(dir, 'aos.yaml'), { ...noKeys, ...env } as NodeJS.ProcessEnv).providerAuth.get('br') as { credentials: unknown };
      return auth.credentials;
    } catch (err) {
      return (err as Error).message;
    }
  };
  const cases: [string, string, Record<string, string>, unknown][] = [
    ['keys', 'accessKeyId: AKIA1, secretAccessKey: s', {}, { kind: 'static', accessKeyId: 'AKIA1' }],
    ['web identity, relative file', `roleArn: "${POD_ROLE}", webIdentityTokenFile: token`, {}, { kind: 'web-identity', roleArn: POD_ROLE, tokenFile: join(dir, 'token'), sessionName: 'aos-gateway' }],
    ['web identity, role from AWS_ROLE_ARN', 'webIdentityTokenFile: token', { AWS_ROLE_ARN: POD_ROLE }, { kind: 'web-identity', roleArn: POD_ROLE }],
    ['IRSA variables alone', '', { AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'), AWS_ROLE_ARN: POD_ROLE }, { kind: 'web-identity', roleArn: POD_ROLE }],
    [
      'keys win over IRSA variables',
      '',
      { AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'), AWS_ROLE_ARN: POD_ROLE, AWS_ACCESS_KEY_ID: 'AKIA2', AWS_SECRET_ACCESS_KEY: 's' },
      { kind: 'static', accessKeyId: 'AKIA2' },
    ],
    ['roleArn with keys', `roleArn: "${BEDROCK_ROLE}", accessKeyId: AKIA1, secretAccessKey: s`, {}, { kind: 'assume-role', roleArn: BEDROCK_ROLE, base: { kind: 'static' } }],
    [
      'roleArn chained from IRSA',
      `roleArn: "${BEDROCK_ROLE}"`,
      { AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'), AWS_ROLE_ARN: POD_ROLE },
      { kind: 'assume-role', base: { kind: 'web-identity', roleArn: POD_ROLE } },
    ],
    ['nothing', '', {}, /needs accessKeyId and secretAccessKey .*webIdentityTokenFile and roleArn, or AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN/],
    ['a token file without a role', 'webIdentityTokenFile: token', {}, /webIdentityTokenFile needs roleArn \(or AWS_ROLE_ARN\)/],
    ['an unreadable token file', `roleArn: "${POD_ROLE}", webIdentityTokenFile: missing`, {}, /auth\.webIdentityTokenFile: cannot read the web identity token file .*missing \(ENOENT\)/],
    ['a token file and keys', `roleArn: "${POD_ROLE}", webIdentityTokenFile: token, accessKeyId: AKIA1, secretAccessKey: s`, {}, /webIdentityTokenFile excludes accessKeyId/],
    ['a role ARN that is not one', 'roleArn: "bedrock-role", accessKeyId: AKIA1, secretAccessKey: s', {}, /roleArn/],
  ];
  for (const [name, auth, env, want] of cases) t.match(parse(auth, env), want as object, name);
});
