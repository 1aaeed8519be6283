import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ConfigError, parseConfig } from '../src/config/load.js';
import { patternProblem } from '../src/config/regex-safety.js';
import { groupedAsCard, luhn, TEST_CARDS } from '../src/guardrails/detectors/card.js';
import { trieSource } from '../src/guardrails/detectors/custom.js';
import { ibanChecksumOk } from '../src/guardrails/detectors/iban.js';
import { createIpDetector } from '../src/guardrails/detectors/ip.js';
import { createSecretsDetector, PRESET_RULES, RULE_SPECS } from '../src/guardrails/detectors/secrets.js';
import { BUILTIN_PROFILES, createScanner, createScanners, type GuardrailProfile, profileDefaults, profileDetectorIds } from '../src/guardrails/scanner.js';
import type { Match } from '../src/guardrails/types.js';

/**
 * A bound only super-linear scanning breaks: linear scans of these 1 MB inputs take 10–100 ms here
 * (quiet) and under 1 s on the shared machine under load; a quadratic one would take minutes.
 */
const SUPER_LINEAR_MS = 5000;

// Fake credentials, built at run time so this file holds no token a secret scanner would flag.
const rep = (s: string, n: number) => s.repeat(n);
const AWS_ID = `AKIA${'Z7QX4NE3K2PDLW5M'}`;
const AWS_SECRET = `Zb8kP3vQn7xR2mT5wY9c${'L4hJ6gF1dS0aE3uI8oKq'}`;
const GH = `ghp_${rep('a1B2c3D4e5', 3)}abcdef`;
const GH_FINE = `github_pat_${rep('A1b2C3d4E5f6', 6)}z9y8x7w6v5`;
const NPM = `npm_${rep('Q1w2E3r4T5y6', 3)}`;
const SLACK = `xoxb-${'123456789012'}-${'1234567890123'}-${'AbCdEfGhIjKlMnOpQrStUvWx'}`;
const SENDGRID = `SG.${rep('a', 22)}.${rep('B', 43)}`;
const SHOPIFY = `shpat_${rep('0a1b2c3d4e5f', 3)}`;
const OPENAI = `sk-proj-${rep('A', 74)}T3BlbkFJ${rep('b', 74)}`;
const ANTHROPIC = `sk-ant-api03-${rep('Xy9_', 23)}zQAA`;
const LINEAR = `lin_api_${rep('k3Lm9', 8)}`;
const OPS = (() => {
  // The token is `ops_` and base64 JSON ending `fQ==`: the closing brace alone in the last group.
  let pad = '';
  for (;;) {
    const b64 = Buffer.from(JSON.stringify({ email: 'x@y.lcl', secretKey: 'A3-C4ZJMN-PQTZTL-HGL84-G64M7-KVZRN-4ZVP6', srpX: rep('0f', 40) + pad })).toString('base64');
    if (b64.endsWith('fQ==')) return `ops_${b64}`;
    pad += '1';
  }
})();
const JWT = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"1234567890"}').toString('base64url')}.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U`;
const PEM = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString().trim();

type Want = [detector: string, severity: Match['severity'], label: string, value: string];
interface Case {
  name: string;
  text: string;
  /** The matches, each located by its value's first occurrence in the text. */
  want: Want[];
  profile?: GuardrailProfile;
}

const standard = createScanner('standard', BUILTIN_PROFILES.standard);

const cases: Case[] = [
  // ---- secrets: the secretlint preset ----
  { name: 'AWS access key id', text: `key ${AWS_ID} here`, want: [['secret.aws_access_key', 'high', 'AWS_KEY', AWS_ID]] },
  { name: "AWS's documented example key is ignored (the preset's allow-list)", text: 'key AKIAIOSFODNN7EXAMPLE', want: [] },
  { name: 'AWS secret key: the value only, not the assignment', text: `aws_secret_access_key = "${AWS_SECRET}"`, want: [['secret.aws_secret_key', 'critical', 'AWS_KEY', AWS_SECRET]] },
  { name: 'an AWS account id is not a credential', text: 'aws_account_id = 1234-5678-9012', want: [] },
  { name: 'private key (PEM)', text: `here:\n${PEM}\nthanks`, want: [['secret.private_key', 'critical', 'PRIVATE_KEY', PEM]] },
  { name: 'private key placeholder (not base64 key material)', text: `-----BEGIN PRIVATE KEY-----\n${rep('xxxx ', 30)}\n-----END PRIVATE KEY-----`, want: [] },
  { name: 'GitHub classic token', text: `token: ${GH}.`, want: [['secret.github_token', 'high', 'SECRET', GH]] },
  { name: 'GitHub fine-grained token', text: `t=${GH_FINE}`, want: [['secret.github_token', 'high', 'SECRET', GH_FINE]] },
  { name: 'npm token', text: `use ${NPM} to publish`, want: [['secret.npm_token', 'high', 'SECRET', NPM]] },
  { name: 'Slack bot token', text: `SLACK=${SLACK}`, want: [['secret.slack_token', 'high', 'SECRET', SLACK]] },
  { name: 'SendGrid key (69 characters)', text: `sg ${SENDGRID} end`, want: [['secret.sendgrid_key', 'high', 'SECRET', SENDGRID]] },
  { name: 'Shopify token', text: `${SHOPIFY} `, want: [['secret.shopify_token', 'high', 'SECRET', SHOPIFY]] },
  { name: 'OpenAI project key', text: `OPENAI_API_KEY=${OPENAI}`, want: [['secret.openai_key', 'high', 'SECRET', OPENAI]] },
  { name: 'Anthropic key', text: `key ${ANTHROPIC} ok`, want: [['secret.anthropic_key', 'high', 'SECRET', ANTHROPIC]] },
  { name: 'Linear key', text: `${LINEAR}`, want: [['secret.linear_token', 'high', 'SECRET', LINEAR]] },
  { name: '1Password service account token', text: `OP=${OPS}`, want: [['secret.onepassword_token', 'high', 'SECRET', OPS]] },
  { name: 'basic auth in an https URL', text: 'GET https://deploy:Tr0ub4dor3@ci.example.com/api', want: [['secret.basic_auth', 'high', 'SECRET', 'https://deploy:Tr0ub4dor3@ci.example.com']] },
  {
    name: 'PostgreSQL connection string',
    text: 'db postgres://app:S3cr3tPw@db.internal:5432/app ok',
    want: [['secret.db_connection_string', 'high', 'SECRET', 'postgres://app:S3cr3tPw@db.internal:5432/app']],
  },
  { name: 'placeholder password in a connection string', text: 'postgres://user:password@localhost/db', want: [] },
  // ---- secrets: ours ----
  { name: 'JWT', text: `Authorization: Bearer ${JWT}`, want: [['secret.jwt', 'high', 'JWT', JWT]] },
  { name: 'eyJ… that is not a JWT header', text: `x eyJub3QganNvbg.${rep('a', 10)}.${rep('b', 10)}`, want: [] },
  { name: 'password assignment: the value only', text: 'DB_PASSWORD="hunter22x" and more', want: [['secret.password', 'high', 'SECRET', 'hunter22x']] },
  { name: 'code is not a password: types, members, calls, keywords, numbers', text: 'password: string; pwd = opts.password; passwd = getPwd(x); password: null, password=0x02', want: [] },
  { name: 'a quoted word is a password', text: `login({ password: 'sunshine' })`, want: [['secret.password', 'high', 'SECRET', 'sunshine']] },
  { name: "the .npmrc rule's loose match on code is dropped", text: `const key = '_authToken=',`, want: [] },
  { name: 'templated password is not a secret', text: `password=${'$'}{DB_PASSWORD}`, want: [] },
  { name: 'credentials in a redis URL: the password', text: 'redis://default:Zx9yW8v7@cache:6379', want: [['secret.url_credentials', 'high', 'SECRET', 'Zx9yW8v7']] },
  { name: 'a UUID is not a key', text: 'request 3f2b8c1e-9a4d-4e6f-b2a1-7c8d9e0f1a2b failed', want: [] },
  { name: 'a git SHA is not a key', text: 'commit 9fceb02d0ae598e95dc970b74767f19372d61af8 broke it', want: [] },
  // ---- personal data ----
  { name: 'email', text: 'write to Bob.Smith+ai@mail.example.co.uk.', want: [['pii.email', 'medium', 'EMAIL', 'Bob.Smith+ai@mail.example.co.uk']] },
  { name: 'not an email: no dot in the domain, a handle, a decorator', text: 'user@localhost, @alice, @Component({})', want: [] },
  { name: 'phone (US, national format)', text: 'call (212) 555-0123 today', want: [['pii.phone', 'medium', 'PHONE', '(212) 555-0123']] },
  { name: 'phone (UK, international format)', text: 'ring +44 20 7946 0958.', want: [['pii.phone', 'medium', 'PHONE', '+44 20 7946 0958']] },
  { name: 'phone (default region FR)', text: 'appelez le 06 12 34 56 78', want: [['pii.phone', 'medium', 'PHONE', '06 12 34 56 78']], profile: profileDefaults({ defaultRegion: 'FR' }) },
  { name: 'a phone-like order number is not a phone', text: 'order 2024-000123 shipped', want: [] },
  { name: 'card (Luhn-valid)', text: 'card 4539 1488 0343 6467 exp 12/29', want: [['pii.card', 'high', 'CARD', '4539 1488 0343 6467']] },
  { name: 'test card: its own detector, low', text: 'use 4242-4242-4242-4242 in sandbox', want: [['pii.card_test', 'low', 'CARD', '4242-4242-4242-4242']] },
  { name: 'card failing Luhn', text: 'card 4539 1488 0343 6468', want: [] },
  { name: 'IBAN (grouped)', text: 'pay DE89 3704 0044 0532 0130 00 now', want: [['pii.iban', 'high', 'IBAN', 'DE89 3704 0044 0532 0130 00']] },
  { name: 'IBAN (compact)', text: 'GB82WEST12345698765432', want: [['pii.iban', 'high', 'IBAN', 'GB82WEST12345698765432']] },
  { name: 'IBAN with a bad checksum', text: 'pay DE88 3704 0044 0532 0130 00 now', want: [] },
  { name: 'US SSN', text: 'SSN 536-22-1234.', want: [['pii.national_id', 'high', 'NATIONAL_ID', '536-22-1234']] },
  { name: 'void SSNs (area 000/666/9xx, the Woolworth card)', text: '000-12-3456 666-12-3456 912-12-3456 078-05-1120 536-00-1234', want: [] },
  { name: 'UK NINO', text: 'NI number AB 12 34 56 C', want: [['pii.national_id', 'high', 'NATIONAL_ID', 'AB 12 34 56 C']] },
  { name: 'UK NINO with a prefix never allocated', text: 'QQ 12 34 56 C and GB123456A', want: [] },
  {
    name: 'Spanish DNI and NIE (check letter)',
    text: 'DNI 12345678Z, NIE X1234567L',
    want: [
      ['pii.national_id', 'high', 'NATIONAL_ID', '12345678Z'],
      ['pii.national_id', 'high', 'NATIONAL_ID', 'X1234567L'],
    ],
  },
  { name: 'Spanish DNI with a wrong letter', text: 'DNI 12345678A', want: [] },
  {
    name: 'IPv4 and IPv6',
    text: 'from 203.0.113.7 and 2001:db8::8a2e:370:7334.',
    want: [
      ['pii.ip', 'low', 'IP', '203.0.113.7'],
      ['pii.ip', 'low', 'IP', '2001:db8::8a2e:370:7334'],
    ],
  },
  {
    name: 'not IPs: versions, loopback, any-address, times, C++ scopes',
    text: 'v1.2.3.4, version 10.2.30.4, RFC 9111 section-5.2.2.10, 1.2.3.4, 1.2.3.4.5, 127.0.0.1, 0.0.0.0, ::1, 12:30:45, std::map',
    want: [],
  },
  // ---- custom ----
  {
    name: 'custom pattern and word list',
    text: 'Ticket ACME-123456 about Project Nightingale and nightingales',
    want: [
      ['custom.ticket', 'medium', 'TICKET', 'ACME-123456'],
      ['word.codenames', 'high', 'CODENAMES', 'Project Nightingale'],
    ],
    profile: profileDefaults({
      secrets: false,
      pii: [],
      patterns: [{ name: 'ticket', pattern: 'ACME-\\d{6}', severity: 'medium', ignoreCase: false }],
      words: [{ name: 'codenames', words: ['nightingale', 'project nightingale', 'falcon'], severity: 'high' }],
    }),
  },
  // ---- overlaps ----
  { name: 'overlap, equal severity: the longer wins (a card inside a password)', text: 'password=4539148803436467!', want: [['secret.password', 'high', 'SECRET', '4539148803436467!']] },
  {
    name: 'overlap: the more severe wins (a card made medium inside a password)',
    text: 'password=4539148803436467',
    want: [['secret.password', 'high', 'SECRET', '4539148803436467']],
    profile: profileDefaults({ severities: { 'pii.card': 'medium' } }),
  },
  {
    name: 'overlap: the more severe wins (a password made low, the card inside it stays high)',
    text: 'password=4539148803436467',
    want: [['pii.card', 'high', 'CARD', '4539148803436467']],
    profile: profileDefaults({ severities: { 'secret.password': 'low' } }),
  },
  { name: 'severity override', text: 'from 203.0.113.7', want: [['pii.ip', 'medium', 'IP', '203.0.113.7']], profile: profileDefaults({ severities: { 'pii.ip': 'medium' } }) },
];

t.test('the detector table: id, severity, label and exact [start, end)', async (t) => {
  for (const c of cases) {
    const scanner = c.profile === undefined ? standard : createScanner('t', c.profile);
    const out: Match[] = [];
    scanner.scan(c.text, out);
    const want = c.want.map(([detector, severity, label, value]) => {
      const start = c.text.indexOf(value);
      if (start === -1) throw new Error(`${c.name}: value not in text`);
      return { detector, severity, label, start, end: start + value.length };
    });
    t.same(out, want, c.name);
    // Matches carry offsets only: no value, in any form.
    for (const m of out) t.same(Object.keys(m).sort(), ['detector', 'end', 'label', 'severity', 'start'], `${c.name}: a match has no value field`);
    for (const [, , , value] of c.want) t.notOk(JSON.stringify(out).includes(value), `${c.name}: the value does not appear in the matches`);
  }
});

t.test("every rule of secretlint's preset is mapped or deliberately skipped (a new preset rule fails here)", async (t) => {
  t.same(
    [...PRESET_RULES.keys()].filter((name) => RULE_SPECS[name] === undefined),
    [],
  );
  t.same(
    Object.entries(RULE_SPECS)
      .filter(([, spec]) => spec === 'skipped')
      .map(([name]) => name)
      .sort(),
    ['filter-comments', 'gcp'],
  );
});

t.test('the literal gates never hide a match: gated and ungated secret detectors agree', async (t) => {
  const gated = createSecretsDetector();
  const ungated = createSecretsDetector({ ungated: true });
  const whole = createSecretsDetector({ wholeText: true });
  let found = 0;
  const texts = [
    ...cases.map((c) => c.text),
    `${GH} ${SLACK} HOOKS.SLACK.COM/services/T000/B000/XXX MONGODB://a:Xy7pQ2w@h/db`,
    'https://github.com/foo:x-oauth-basic@github.com/',
    // Tokens around literals: at the text's edges, glued to punctuation or letters, several per token.
    `${AWS_ID}`,
    `"${AWS_ID}",${GH};${NPM}\n(${SHOPIFY})\t${AWS_ID}${AWS_ID} x${AWS_ID} ${AWS_ID}x`,
    `url=https://u1:Pw0rd99x@h.example.com/x,https://u2:Zz9yYx8w@h2.example.org\u00a0${LINEAR}\u2028${ANTHROPIC}`,
    `aws_secret_access_key=${AWS_SECRET} and ${AWS_ID} and account_id: 1234-5678-9012`,
    `${rep('AKIA ', 100)}${AWS_ID}`,
  ];
  for (const text of texts) {
    const a: Match[] = [];
    const b: Match[] = [];
    const c: Match[] = [];
    gated.detect(text, a);
    ungated.detect(text, b);
    whole.detect(text, c);
    const order = (ms: Match[]) => ms.sort((x, y) => x.start - y.start || x.end - y.end || (x.detector < y.detector ? -1 : 1));
    t.same(order(a), order(b), text.slice(0, 40));
    t.same(order(c), order(b), `whole text: ${text.slice(0, 40)}`);
    found += b.length;
  }
  t.ok(found > 40, `the texts hold secrets (${found} matches)`);
});

t.test('the IP gates never hide a match: gated and ungated IP detectors agree on random and tricky texts', async (t) => {
  const gated = createIpDetector();
  const ungated = createIpDetector({ ungated: true });
  // Random texts over an alphabet where addresses, versions and look-alikes are frequent.
  const alphabet = '0123456789abcdefABCDEF.:::.. -_%#v[]x/';
  let seed = 7;
  const rnd = (n: number) => {
    seed = (seed * 16807) % 2147483647;
    return seed % n;
  };
  const texts = [
    '10.0.0.1 192.168.1.20: fe80::1%eth0 [2001:db8::7]:443 ::ffff:10.1.2.3 1:2:3:4:5:6:7:8 12:30:45 v1.2.3.4',
    'a1.2.3.44 10.0.0.1.5 section-5.2.2.10 version 10.0.0.1 2001:db8:0:0:0:0:2:1 abcdef12:34:56::7',
    ...Array.from({ length: 3000 }, () => Array.from({ length: 5 + rnd(80) }, () => alphabet[rnd(alphabet.length)]).join('')),
  ];
  let found = 0;
  for (const text of texts) {
    const a: Match[] = [];
    const b: Match[] = [];
    gated.detect(text, a);
    ungated.detect(text, b);
    if (JSON.stringify(a) !== JSON.stringify(b)) t.same(a, b, text);
    found += b.length;
  }
  t.ok(found > 100, `the texts hold addresses (${found} matches)`);
});

t.test('checks used by the detectors', async (t) => {
  for (const card of TEST_CARDS) t.ok(luhn(card), `test card ${card} passes Luhn`);
  t.ok(luhn('4539 1488-0343 6467'), 'Luhn reads the digits between separators');
  t.notOk(luhn('4539 1488 0343 6468'));
  const shapes: [string, boolean][] = [
    ['4539148803436467', true],
    ['4539 1488 0343 6467', true],
    ['4539-1488-0343-6467', true],
    ['4539 1488 0343 646', true],
    ['4539 1488 0343 6', true],
    ['3782 822463 10005', true],
    ['3056 930902 5904', true],
    ['4539 1488-0343 6467', false],
    ['4539 1488 03436467', false],
    ['453 9148 8034 3646', false],
    ['4539 1488 0343 64671', false],
    ['3782 822463 100051', false],
    ['37828 22463 10005', false],
  ];
  t.same(
    shapes.map(([c]) => groupedAsCard(c)),
    shapes.map(([, ok]) => ok),
    'written as cards are: groups of four, or 4-6-5 and 4-6-4, one kind of separator',
  );
  t.ok(ibanChecksumOk('GB82WEST12345698765432'));
  t.notOk(ibanChecksumOk('GB83WEST12345698765432'));
  const re = new RegExp(`^(?:${trieSource(['ab', 'abc', 'b.d'])})$`);
  t.same(
    ['ab', 'abc', 'b.d', 'bxd', 'a'].map((w) => re.test(w)),
    [true, true, true, false, false],
  );
});

t.test('odd input never throws and finds what it can', async (t) => {
  const odd = ['\uD800 bob@example.com \uDFFF', '\u0000'.repeat(1000), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)).toString('latin1'), '', '@', '-----BEGIN', 'eyJ.'];
  const strict = createScanner('strict', BUILTIN_PROFILES.strict);
  for (const text of odd) {
    const out: Match[] = [];
    t.doesNotThrow(() => strict.scan(text, out));
    for (const m of out) t.ok(m.start >= 0 && m.end <= text.length && m.start < m.end);
  }
  const out: Match[] = [];
  strict.scan(odd[0]!, out);
  t.same(
    out.map((m) => m.detector),
    ['pii.email'],
  );
});

t.test('maxScanBytes: text past it is not scanned', async (t) => {
  const scanner = createScanner('small', profileDefaults({ maxScanBytes: 1024 }));
  t.equal(scanner.maxChars, 1024);
  const out: Match[] = [];
  scanner.scan(`${rep(' ', 1000)}bob@example.com ${rep(' ', 1000)}alice@example.com`, out);
  t.same(
    out.map((m) => m.start),
    [1000],
  );
});

t.test('profiles: built-ins exist, a configured one replaces its namesake', async (t) => {
  const scanners = createScanners({ mode: 'on', profiles: { strict: profileDefaults({ pii: ['email'] }), mine: profileDefaults({ secrets: false }) } });
  t.same([...scanners.keys()].sort(), ['mine', 'standard', 'strict']);
  t.equal(scanners.get('standard')!.responses, false);
  t.equal(scanners.get('strict')!.responses, false, 'the configured strict replaced the built-in one');
  t.equal(createScanners(undefined).get('strict')!.responses, true);
  t.ok(scanners.get('standard')!.window >= 10_000, 'the window covers a private key');
});

// ---- adversarial inputs: each must stay linear (a generous bound that only super-linear time exceeds) ----

const MB = 1024 * 1024;
const fill = (unit: string) => unit.repeat(Math.ceil(MB / unit.length)).slice(0, MB);
const adversarial: [string, string][] = [
  ['a@a@a@…', fill('a@')],
  ['a.a@a.a@…', fill('a.a@a.')],
  ['digits', fill('4')],
  ['spaced digits', fill('12 ')],
  ['digit groups', fill('1234 ')],
  ['-----BEGIN without end', fill('-----BEGIN PRIVATE KEY-----\nMIIB')],
  ['one BEGIN, then base64', `-----BEGIN PRIVATE KEY-----\n${fill('MIIBa')}`],
  ['spaces', fill(' ')],
  ['aaaa…!', `${fill('a')}!`],
  ['eyJeyJ…', fill('eyJ')],
  ['eyJ segments', fill('eyJhbGciOi.')],
  ['SG.', fill(`SG.${rep('a', 128)}.`)],
  ['xoxb-', fill('xoxb-')],
  ['https://', fill('https://a:')],
  ['password=', fill('password=')],
  ['colons', fill('a:')],
  ['hex and colons', fill('ab:')],
  ['dotted numbers', fill('1.')],
  ['upper-case alnum', fill('DE89ABCD')],
  ['NINO-like', fill('AB 12 ')],
  ['mixed', fill('x@y.z 4242 ::1 AKIA eyJ SG. ghp_ -----BEGIN 212-555 ')],
];

t.test('adversarial 1 MB inputs: each detector family and the whole strict scanner stay under 500 ms', async (t) => {
  const families: [string, GuardrailProfile][] = [
    ['secrets', profileDefaults({ pii: [] })],
    ...(['email', 'phone', 'card', 'iban', 'national_id', 'ip'] as const).map((name): [string, GuardrailProfile] => [name, profileDefaults({ secrets: false, pii: [name] })]),
    [
      'custom',
      profileDefaults({
        secrets: false,
        pii: [],
        patterns: [{ name: 'ticket', pattern: 'ACME-\\d{6}', severity: 'low', ignoreCase: true }],
        words: [{ name: 'w', words: ['aaaa', 'a a', 'eyj', 'password'], severity: 'low' }],
      }),
    ],
    ['strict', BUILTIN_PROFILES.strict],
  ];
  const scanners = families.map(([name, profile]) => [name, createScanner(name, profile)] as const);
  for (const [input, text] of adversarial) {
    for (const [family, scanner] of scanners) {
      const out: Match[] = [];
      const start = performance.now();
      scanner.scan(text, out);
      const ms = performance.now() - start;
      t.ok(ms < SUPER_LINEAR_MS, `${family} on ${input}: ${ms.toFixed(0)} ms`);
    }
  }
});

// ---- config ----

const PROVIDERS = `providers:
  openai:
    dialect: openai
    baseUrl: https://api.openai.com/v1
routes:
  - prefix: /v1
    provider: openai
`;

const configProblems = (guardrails: string): string => {
  try {
    parseConfig(`${PROVIDERS}guardrails:\n${guardrails}`, 'conf/aos.yaml', {});
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'valid';
};

t.test('config: profiles load with defaults; bad custom patterns are refused with a clear message', async (t) => {
  const { config } = parseConfig(
    `${PROVIDERS}guardrails:\n  profiles:\n    finance:\n      pii: [card, iban]\n      patterns:\n        - { name: ticket, pattern: 'ACME-\\d{6}', severity: low }\n`,
    'x.yaml',
    {},
  );
  const finance = config.guardrails.profiles.finance!;
  t.same(finance, {
    pii: ['card', 'iban'],
    patterns: [{ name: 'ticket', pattern: 'ACME-\\d{6}', severity: 'low', ignoreCase: false }],
    secrets: true,
    defaultRegion: 'US',
    words: [],
    responses: false,
    restore: true,
    maxScanBytes: MB,
    severities: {},
  });
  t.same(parseConfig(PROVIDERS, 'x.yaml', {}).config.guardrails, { mode: 'on', profiles: {} });

  const refused: [string, string, RegExp][] = [
    ['nested quantifiers', `'(a+)+$'`, /guardrails\.profiles\.p\.patterns\[0\]\.pattern: refused as a ReDoS risk: nested quantifiers/],
    ['overlapping alternation under a star', `'(a|aa)*b'`, /patterns\[0\]\.pattern: refused as a ReDoS risk: its time grows super-linearly on "a" repeated/],
    ['adjacent overlapping quantifiers', `'\\d+\\d+x'`, /patterns\[0\]\.pattern: refused as a ReDoS risk: its time grows super-linearly on "0" repeated/],
    ['syntax error', `'([a-z'`, /patterns\[0\]\.pattern: not a valid regular expression/],
    ['matches the empty string', `'x*'`, /patterns\[0\]\.pattern: matches the empty string/],
  ];
  for (const [name, pattern, want] of refused) {
    t.match(configProblems(`  profiles:\n    p:\n      patterns:\n        - { name: bad, pattern: ${pattern}, severity: high }\n`), want, name);
  }
  t.match(configProblems(`  profiles:\n    p:\n      pii: [email, fax]\n`), /guardrails\.profiles\.p\.pii\[1\]: expected one of email, phone, card, iban, national_id, ip/);
  t.match(configProblems(`  profiles:\n    p:\n      severities: { pii.ip: urgent }\n`), /expected one of low, medium, high, critical/);
  t.match(
    configProblems(`  profiles:\n    p:\n      severities: { custom.nope: low }\n`),
    /guardrails\.profiles\.p\.severities\.custom\.nope: no pattern or word list of this profile is named "custom\.nope"/,
  );
  t.match(configProblems(`  profiles:\n    p:\n      defaultRegion: XX\n`), /guardrails\.profiles\.p\.defaultRegion: "XX" is not a country the phone number metadata knows/);
  t.equal(patternProblem('\\bproj-[a-z]{3}\\b'), null, 'an ordinary pattern is accepted');
  t.match(patternProblem('[a-z]+@[a-z]+\\.com'), /super-linearly on "a" repeated .* anchor where it starts/, 'a repetition that rescans a run is refused, with the fix');
  t.equal(patternProblem('(?<![a-z])[a-z]+@[a-z]+\\.com'), null, 'anchored by a look-behind it is accepted');
});

t.test('the commented example in config/aos.yaml loads once uncommented', async (t) => {
  const lines = readFileSync(new URL('../config/aos.yaml', import.meta.url), 'utf8').split('\n');
  const from = lines.indexOf('# guardrails:');
  t.ok(from > 0, 'the example is there');
  const example: string[] = [];
  for (const line of lines.slice(from)) {
    if (!line.startsWith('#')) break;
    example.push(line.replace(/^# ?/, ''));
  }
  const { config } = parseConfig(`${PROVIDERS}${example.join('\n')}\n`, 'aos.yaml', {});
  const scanners = createScanners(config.guardrails);
  const out: Match[] = [];
  scanners.get('finance')!.scan('Project Falcon: ticket ACME-123456 for 203.0.113.7', out);
  t.same(
    out.map((m) => [m.detector, m.severity]),
    [
      ['word.codenames', 'high'],
      ['custom.ticket', 'low'],
    ],
    'pii.ip is not among the enabled detectors',
  );
});

t.test('a word list of 20,000 words stays linear on 1 MB', async (t) => {
  const words = Array.from({ length: 20_000 }, (_, i) => `w${i.toString(36)}x${(i * 7919).toString(36)}`);
  const scanner = createScanner('words', profileDefaults({ secrets: false, pii: [], words: [{ name: 'many', words, severity: 'low' }] }));
  const text = fill(`${words[123]} w1 w12 ww `);
  const out: Match[] = [];
  const start = performance.now();
  scanner.scan(text, out);
  const ms = performance.now() - start;
  t.ok(ms < SUPER_LINEAR_MS, `${ms.toFixed(0)} ms`);
  t.ok(out.length > 10_000 && out.every((m) => text.slice(m.start, m.end) === words[123]));
});

t.test('docs/guardrails.md lists every built-in detector id with its severity and label', async (t) => {
  const doc = readFileSync(new URL('../docs/guardrails.md', import.meta.url), 'utf8');
  for (const { id, severity, label } of profileDetectorIds(BUILTIN_PROFILES.strict)) {
    t.ok(doc.includes(`| \`${id}\` | ${severity} | \`${label}\` |`), id);
  }
});
