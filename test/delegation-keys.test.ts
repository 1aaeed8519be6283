/**
 * `identity.delegation`: the key files read at load (and what is refused, with the config file, the
 * key path and the key file), the kid every gateway computes alike whatever the file's format, and
 * the key set a gateway signs and verifies delegation tokens with (a shared key, a rotation, the
 * local key alone).
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { createDelegationKeys } from '../src/coordination/delegation.js';
import { loadSnapshot } from '../src/gateway/snapshot.js';
import { type DelegationKeyConfig, delegationKeySet, readDelegationKeys } from '../src/identity/delegation-keys.js';
import { LOCAL_KEY_FILE, loadLocalSigner } from '../src/identity/local-key.js';

const dir = mkdtempSync(join(tmpdir(), 'aos-delegation-keys-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  writeFileSync(join(dir, name), text);
  return name;
};
const ed = () => generateKeyPairSync('ed25519');
const privatePem = (k: KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }) as string;
const publicPem = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }) as string;
const jwk = (k: KeyObject) => JSON.stringify(k.export({ format: 'jwk' }));

const CONFIG = join(dir, 'aos.yaml');
const BASE = 'providers: { o: { dialect: openai, baseUrl: "http://x/v1" } }\nroutes: [{ prefix: /v1, provider: o }]\n';
const load = (delegation: string) => readDelegationKeys(parseConfig(`${BASE}identity:\n  delegation: ${delegation}\n`, CONFIG, {}).config.identity, CONFIG);
const keysOf = (delegation: string) => load(delegation)!;

t.test('refused at load, naming the key path and the file', async (t) => {
  const a = ed();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cases: [string, string, RegExp][] = [
    ['keyFile missing', '{ keyFile: nope.pem }', /aos\.yaml: identity\.delegation\.keyFile: .*nope\.pem: cannot read the delegation key: ENOENT/],
    ['keyFile an RSA key', `{ keyFile: ${file('rsa.pem', privatePem(rsa.privateKey))} }`, /identity\.delegation\.keyFile: .*rsa\.pem: not an Ed25519 key \(rsa\)/],
    ['keyFile a public PEM', `{ keyFile: ${file('a.pub.pem', publicPem(a.publicKey))} }`, /keyFile: .*a\.pub\.pem: a public key; keyFile is the private key/],
    ['keyFile a public JWK', `{ keyFile: ${file('a.pub.jwk', jwk(a.publicKey))} }`, /keyFile: .*a\.pub\.jwk: a public key; keyFile is the private key/],
    ['keyFile not JSON', `{ keyFile: ${file('bad.json', '{ nope')} }`, /keyFile: .*bad\.json: not valid JSON/],
    ['keyFile no key', `{ keyFile: ${file('empty.pem', 'hello')} }`, /keyFile: .*empty\.pem: no private key found/],
    ['trust a private PEM', `{ trust: [${file('a.pem', privatePem(a.privateKey))}] }`, /identity\.delegation\.trust\[0\]: .*a\.pem: holds a private key/],
    ['trust a private JWK', `{ trust: [${file('a.jwk', jwk(a.privateKey))}] }`, /trust\[0\]: .*a\.jwk: a private or symmetric key/],
    ['trust an EC key', `{ trust: [${file('ec.pub.pem', publicPem(ec.publicKey))}] }`, /trust\[0\]: .*ec\.pub\.pem: not an Ed25519 public key \(EC P-256\)/],
    ['trust missing, second entry', `{ trust: [${file('ok.pub.pem', publicPem(a.publicKey))}, gone.pem] }`, /trust\[1\]: .*gone\.pem: cannot read the key file: ENOENT/],
  ];
  for (const [name, delegation, re] of cases) {
    const err = (() => {
      try {
        load(delegation);
        return null;
      } catch (e) {
        return e;
      }
    })();
    t.ok(err instanceof ConfigError && err.code === 'AOS_ERR_CONFIG_INVALID', `${name}: a ConfigError`);
    t.match((err as Error)?.message, re, `${name}: says what and where`);
  }
  writeFileSync(CONFIG, `${BASE}identity: { mode: off, delegation: { keyFile: ${file('rsa2.pem', privatePem(rsa.privateKey))} } }\n`);
  t.throws(() => loadSnapshot(CONFIG, {}), { code: 'AOS_ERR_CONFIG_INVALID', message: /rsa2\.pem: not an Ed25519 key/ }, 'the snapshot a gateway starts (or reloads) from is refused');
  t.equal(load('{}')?.signing, null, 'no keyFile: the local key signs');
  t.equal(readDelegationKeys(parseConfig(BASE, CONFIG, {}).config.identity, CONFIG), null, 'absent: null');
});

t.test("one key's kid whatever the file: PEM, JWK, JWKS, the local key's file", async (t) => {
  const signer = await loadLocalSigner(join(dir, 'local'), 'aos-local');
  const k = ed();
  const pemKid = keysOf(`{ keyFile: ${file('k.pem', privatePem(k.privateKey))} }`).signing!.kid;
  t.equal(keysOf(`{ keyFile: ${file('k.jwk', JSON.stringify({ ...k.privateKey.export({ format: 'jwk' }), kid: 'whatever' }))} }`).signing!.kid, pemKid, 'a private JWK (its kid member ignored)');
  t.same([...keysOf(`{ trust: [${file('k.pub.pem', publicPem(k.publicKey))}] }`).trusted.keys()], [pemKid], 'its public PEM in trust');
  t.same([...keysOf(`{ trust: [${file('k.jwks', JSON.stringify({ keys: [k.publicKey.export({ format: 'jwk' })] }))}] }`).trusted.keys()], [pemKid], 'a JWKS holding it');
  t.equal(keysOf(`{ keyFile: ${join(dir, 'local', LOCAL_KEY_FILE)} }`).signing!.kid, signer.kid, "the local key's file as keyFile (an absolute path): the local kid");
});

t.test('key sets: a shared key, a rotation, the local key alone', async (t) => {
  const now = () => Date.UTC(2026, 11, 7);
  const chain = ['planner', 'researcher'];
  const none = { usd: null, handoffs: null };
  const [oldKey, newKey] = [ed(), ed()];
  const oldFile = file('old.pem', privatePem(oldKey.privateKey));
  const newFile = file('new.pem', privatePem(newKey.privateKey));
  const oldPub = file('old.pub.pem', publicPem(oldKey.publicKey));
  const set = (cfg: DelegationKeyConfig, issuer = 'aos-local') => createDelegationKeys(delegationKeySet(cfg, null, issuer)!, 60, now);

  const a = set(keysOf(`{ keyFile: ${oldFile} }`), 'gateway-a');
  const b = set(keysOf(`{ keyFile: ${oldFile} }`), 'gateway-b');
  t.match(b.verify(a.sign(chain, 'wf', none)), { chain, depth: 1, workflowId: 'wf' }, 'one shared key: another gateway (another iss) signed it, accepted');

  const rotated = set(keysOf(`{ keyFile: ${newFile}, trust: [${oldPub}] }`));
  t.ok(rotated.verify(a.sign(['x', 'y'], null, none)), 'after a rotation: the old key still trusted');
  t.ok(set(keysOf(`{ keyFile: ${oldFile} }`)).verify(rotated.sign(chain, null, none)) === null, 'a gateway not told of the new key ignores its tokens');
  t.ok(set(keysOf(`{ keyFile: ${newFile} }`)).verify(a.sign(['p', 'q'], null, none)) === null, 'the old key dropped from trust: ignored');

  const l1 = await loadLocalSigner(join(dir, 'l1'), 'aos-local');
  const l2 = await loadLocalSigner(join(dir, 'l2'), 'aos-local');
  const local = createDelegationKeys(delegationKeySet(null, l1, 'aos-local')!, 60, now);
  t.equal(createDelegationKeys(delegationKeySet(null, l2, 'aos-local')!, 60, now).verify(local.sign(chain, null, none)), null, 'no identity.delegation: only the gateway that signed');
  const trusting = createDelegationKeys(delegationKeySet({ signing: null, trusted: keysOf(`{ trust: [${file('l1.jwk', JSON.stringify(l1.publicJwk))}] }`).trusted }, l2, 'aos-local')!, 60, now);
  t.ok(trusting.verify(local.sign(['m', 'n'], null, none)), "trust alone: the local key signs, another gateway's key is accepted");
  t.ok(local.verify(trusting.sign(['m', 'o'], null, none)) === null, 'trust is one way');
  t.equal(delegationKeySet(null, null, 'aos-local'), null, 'no key at all: none');
});
