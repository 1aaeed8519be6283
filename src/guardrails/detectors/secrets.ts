/**
 * Secrets: the rules of secretlint's recommended preset (`@secretlint/secretlint-rule-preset-recommend`),
 * driven directly, plus three detectors the preset lacks (JWTs, `password=` assignments, credentials
 * in any `scheme://user:pass@host` URL).
 *
 * Why not `@secretlint/core`'s `lintSource`: it is async, builds a source map and a messages pipeline
 * per call, and measured 52–131 µs p50 and up to 5.6 ms p99 for 1 KB (bench/RESULTS-guardrails.md).
 * Driving the rule modules directly, each with a minimal context that collects `context.report`, runs
 * exactly the preset's regular expressions and false-positive filters (placeholder lists, base64
 * magic bytes of private keys, the 69-character SendGrid length, …). Running all of them on every
 * text still costs about 30 µs per KB, so each rule is gated by literals that every match of its
 * patterns must contain (read from the rule's source: `-----BEGIN`, `AKIA`, `xoxb-`, `T3BlbkFJ`, …),
 * found in one case-insensitive pass: a rule runs only on a text that contains one (about 5 µs per
 * KB in all), and only on the tokens around them when they sit inside tokens (`local` below). A
 * test runs every rule ungated on the same texts to prove the gates never hide a match, and another
 * fails when a new preset version adds a rule this file does not know.
 *
 * Two rules of the preset are left out on purpose:
 * - `filter-comments`: it honours `secretlint-disable` comments, which would let the scanned text
 *   itself switch detection off;
 * - `gcp`: it only reads `.json` and `.p12` files as a whole; the private key inside a service
 *   account JSON is found by the private key rule.
 */
import { rules as presetRules } from '@secretlint/secretlint-rule-preset-recommend';
import type { Match, Severity } from '../types.js';
import type { Detector, DetectorId } from './detector.js';

// ---- the secretlint rule module contract (the part we use; @secretlint/types describes it) -------

interface RuleSource {
  readonly content: string;
  readonly filePath: string | undefined;
  readonly ext: string;
  readonly contentType: 'text';
}

interface Report {
  readonly message: unknown;
  readonly range: readonly number[];
}

interface RuleContext {
  report(descriptor: Report): void;
  ignore(descriptor: unknown): void;
  createTranslator(messages: unknown): (messageId: string, props?: Record<string, unknown>) => Translated;
}

interface RuleModule {
  readonly meta: { readonly id: string };
  create(context: RuleContext, options: Record<string, unknown>): { file?(source: RuleSource): unknown };
}

/** What our translator returns instead of a sentence: the message id and its props (never kept). */
interface Translated {
  readonly messageId: string;
  readonly props: Record<string, unknown> | undefined;
}

// ---- how each rule maps onto our detectors --------------------------------------------------------

/** A kind of secret: its detector id and the message prop that holds the matched value. */
interface Kind extends DetectorId {
  /** The prop of the rule's message that carries the matched text (it locates the exact range). */
  readonly valueProp: string;
}

const kind = (name: string, severity: Severity, label: string, valueProp: string): Kind => ({ id: `secret.${name}`, severity, label, valueProp });

interface RuleSpec {
  /** Literals: the rule runs when the text contains one of them (found case-insensitively). */
  readonly triggers: readonly string[];
  /** The same for rules whose patterns are `/i` (kept apart: they never run on tokens only). */
  readonly foldedTriggers?: readonly string[];
  /**
   * Triggers whose matches never hold whitespace (a token: `AKIA…`, `ghp_…`). When only these open
   * the rule, it runs on the whitespace-delimited tokens around them instead of the whole text: its
   * other patterns need literals that are absent, and a token's edges (whitespace or the text's
   * ends) look the same to `\b` and look-arounds as in the whole text.
   */
  readonly local?: readonly string[];
  readonly options?: Record<string, unknown>;
  /** Source variants to run the rule on (some rules look at the file name). */
  readonly filePaths?: readonly (string | undefined)[];
  /** By message id; `dropped`: not a secret to us. A message id not listed is reported as `secret.<rule>`. */
  readonly kinds: Readonly<Record<string, Kind | 'dropped'>>;
}

const AWS_KEY_PREFIXES = ['A3T', 'AKIA', 'AGPA', 'AIDA', 'AROA', 'AIPA', 'ANPA', 'ANVA', 'ASIA'];
const AWS_ACCESS_KEY = kind('aws_access_key', 'high', 'AWS_KEY', 'ID');
const GITHUB_TOKEN = kind('github_token', 'high', 'SECRET', 'KEY');
const DB_URL = kind('db_connection_string', 'high', 'SECRET', 'URI');

const PREFIX = '@secretlint/secretlint-rule-';

/** Every rule of the preset, by its id without the `@secretlint/secretlint-rule-` prefix. */
export const RULE_SPECS: Readonly<Record<string, RuleSpec | 'skipped'>> = {
  aws: {
    // The secret key pattern needs `secret`, an optional `_`, then `access` (each in one of three
    // casings): a prompt that merely says "secrets" does not run the rule.
    triggers: [...AWS_KEY_PREFIXES, 'secret_access', 'secretaccess'],
    local: AWS_KEY_PREFIXES,
    // The access key id scan is off by default in secretlint (it also reports account ids).
    options: { enableIDScanRule: true },
    kinds: {
      AWSSecretAccessKey: kind('aws_secret_key', 'critical', 'AWS_KEY', 'KEY'),
      AWSAccessKeyID: AWS_ACCESS_KEY,
      // An account id (`aws_account_id = 1234-5678-9012`) is not a credential.
      AWSAccountID: 'dropped',
    },
  },
  gcp: 'skipped',
  privatekey: { triggers: ['-----BEGIN'], kinds: { PrivateKey: kind('private_key', 'critical', 'PRIVATE_KEY', 'KEY') } },
  npm: {
    triggers: ['npm_', 'x-oauth-basic', '_authToken='],
    local: ['npm_'],
    // Without a file name the rule checks package.json patterns; as `.npmrc` it checks `_authToken=`.
    filePaths: [undefined, '.npmrc'],
    kinds: {
      NPM_ACCESS_TOKEN: kind('npm_token', 'high', 'SECRET', 'TOKEN'),
      Npmrc_authToken: kind('npm_token', 'high', 'SECRET', 'TOKEN'),
      PackageJSON_xOauthToken: { ...GITHUB_TOKEN, valueProp: 'TOKEN' },
    },
  },
  basicauth: { triggers: ['://'], local: ['://'], kinds: { BasicAuth: kind('basic_auth', 'high', 'SECRET', 'CREDENTIAL') } },
  slack: {
    triggers: ['xoxb-', 'xoxp-', 'xapp-', 'xoxa-', 'xoxo-', 'xoxr-'],
    local: ['xoxb-', 'xoxp-', 'xapp-', 'xoxa-', 'xoxo-', 'xoxr-'],
    foldedTriggers: ['hooks.slack.com'],
    kinds: { SLACK_TOKEN: kind('slack_token', 'high', 'SECRET', 'TOKEN'), IncomingWebhook: kind('slack_webhook', 'high', 'SECRET', 'URL') },
  },
  sendgrid: { triggers: ['SG.'], local: ['SG.'], kinds: { SENDGRID_KEY: kind('sendgrid_key', 'high', 'SECRET', 'KEY') } },
  shopify: { triggers: ['shppa_', 'shpca_', 'shpat_', 'shpss_'], local: ['shppa_', 'shpca_', 'shpat_', 'shpss_'], kinds: { SHOPIFY_KEY: kind('shopify_token', 'high', 'SECRET', 'KEY') } },
  github: { triggers: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'], local: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'github_pat_'], kinds: { GITHUB_TOKEN } },
  openai: { triggers: ['T3BlbkFJ'], local: ['T3BlbkFJ'], kinds: { OPENAI_TOKEN: kind('openai_key', 'high', 'SECRET', 'TOKEN') } },
  anthropic: { triggers: ['sk-ant-api0'], local: ['sk-ant-api0'], kinds: { ANTHROPIC_API_KEY: kind('anthropic_key', 'high', 'SECRET', 'KEY') } },
  linear: { triggers: ['lin_api_'], local: ['lin_api_'], kinds: { LINEAR_API_TOKEN: kind('linear_token', 'high', 'SECRET', 'ID') } },
  '1password': { triggers: ['ops_ey'], local: ['ops_ey'], kinds: { OPS_TOKEN: kind('onepassword_token', 'high', 'SECRET', 'TOKEN') } },
  'database-connection-string': {
    triggers: [],
    foldedTriggers: ['mongodb', 'mysql', 'postgres'],
    kinds: { MongoDBConnection: DB_URL, MySQLConnection: DB_URL, PostgreSQLConnection: DB_URL },
  },
  'filter-comments': 'skipped',
};

/** The preset's rules, in its order, by short name. */
export const PRESET_RULES: ReadonlyMap<string, RuleModule> = new Map(
  (presetRules as unknown as RuleModule[]).map((rule) => [rule.meta.id.startsWith(PREFIX) ? rule.meta.id.slice(PREFIX.length) : rule.meta.id, rule]),
);

// ---- our additions --------------------------------------------------------------------------------

const JWT: DetectorId = { id: 'secret.jwt', severity: 'high', label: 'JWT' };
const PASSWORD: DetectorId = { id: 'secret.password', severity: 'high', label: 'SECRET' };
const URL_CREDENTIALS: DetectorId = { id: 'secret.url_credentials', severity: 'high', label: 'SECRET' };

/**
 * Three base64url segments, the first starting `eyJ` (`{"`). The look-behind makes a run of token
 * characters a single start candidate, which keeps the scan linear on `eyJeyJeyJ…`.
 */
const JWT_PATTERN = /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*/g;
const JWT_MAX = 16_384;

/** `password=…`, `DB_PASSWORD: "…"`, `pwd=…`: the value is reported, not the key. */
const PASSWORD_PATTERN = /(?<![A-Za-z0-9])(?:password|passwd|pwd)["']?[ \t]{0,8}[:=][ \t]{0,8}(["'`]?)([^\s"'`&;,<>]{4,128})/dgi;

/**
 * Unquoted values that are code, not secrets (prompts often carry code): `password: string`,
 * `password = opts.password`, `pwd = getPwd()`, `password: null`, hex literals, and plain words
 * without a digit or symbol (`password: required`). A quoted value counts unless it is a placeholder;
 * so does an unquoted PIN (`password=4711`).
 */
const CODE_VALUE = /^(?:[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+|[A-Za-z_$][\w$]*\(.*|[A-Za-z]+|0x[0-9a-fA-F]+)$/;

/** Credentials in a URL of any scheme (the preset covers http(s), ftp, MySQL, PostgreSQL and MongoDB only). */
const URL_CREDENTIALS_PATTERN = /(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}:\/\/([^:@/\s"'<>]{1,128}):([^@/\s"'<>]{1,256})@[A-Za-z0-9[]/dg;

/** Values that are placeholders, not secrets (the preset's database rule skips the same). */
const PLACEHOLDERS = new Set([
  'x-oauth-basic',
  'password',
  'passwd',
  'secret',
  'changeme',
  'pass',
  'admin',
  'root',
  'user',
  'username',
  'mypassword',
  'your_password',
  'replace_with_password',
  'example',
]);
const TEMPLATED = /\$\{|\{\{|^\{[^}]*\}$|^%[A-Z_]+%$|^\$[A-Za-z_]|^<[^>]*>$|^\*+$|^\[[^\]]*\]$|REDACTED/;

function isPlaceholder(value: string): boolean {
  if (value.length < 4 || PLACEHOLDERS.has(value.toLowerCase()) || TEMPLATED.test(value)) return true;
  const first = value.charCodeAt(0);
  for (let i = 1; i < value.length; i++) if (value.charCodeAt(i) !== first) return false;
  return true; // `xxxx`, `1111`
}

function isJwtHeader(segment: string): boolean {
  if (segment.length > 2048) return false;
  const json = Buffer.from(segment, 'base64url').toString('utf8');
  // Cheap checks before JSON.parse, whose exceptions are the slow path on `eyJ…` floods.
  if (!json.endsWith('}') || !json.includes('"alg"')) return false;
  try {
    const header: unknown = JSON.parse(json);
    return typeof header === 'object' && header !== null && typeof (header as { alg?: unknown }).alg === 'string';
  } catch {
    return false;
  }
}

// ---- the detector ---------------------------------------------------------------------------------

interface PreparedRule {
  readonly spec: RuleSpec;
  /** For a message id the spec does not list (a newer preset): `secret.<rule>`, the reported range. */
  readonly fallback: Kind;
  handlers: { file?(source: RuleSource): unknown };
}

/** The detector ids this module can emit. */
export const SECRET_IDS: readonly DetectorId[] = dedupe([
  ...Object.values(RULE_SPECS).flatMap((spec) => (spec === 'skipped' ? [] : Object.values(spec.kinds).filter((k) => k !== 'dropped'))),
  JWT,
  PASSWORD,
  URL_CREDENTIALS,
]);

function dedupe(ids: DetectorId[]): DetectorId[] {
  const seen = new Map<string, DetectorId>();
  for (const { id, severity, label } of ids) if (!seen.has(id)) seen.set(id, { id, severity, label });
  return [...seen.values()];
}

export interface SecretsOptions {
  /** Run every rule on every whole text (tests and the bench: proves the gates hide nothing). */
  readonly ungated?: boolean;
  /** Gate the rules, but run an open rule on the whole text, never on tokens around its literals (tests). */
  readonly wholeText?: boolean;
}

const CLOSED = 0;
const LOCAL = 1;
const FULL = 2;

/** More literal hits than this in one text, or tokens longer than this: the rule runs on the whole text. */
const MAX_LOCAL_HITS = 64;
const MAX_TOKEN = 8192;

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || (c > 127 && /\s/.test(String.fromCharCode(c)));
}

/**
 * The whitespace-delimited tokens holding the hits, merged, as [start, end, start, end, …]; null
 * when running on the whole text is as cheap (many hits, long tokens).
 */
function tokensAround(text: string, hits: readonly number[]): number[] | null {
  if (hits.length > MAX_LOCAL_HITS) return null;
  const windows: number[] = [];
  for (const hit of hits) {
    if (windows.length > 0 && hit < windows[windows.length - 1]!) continue; // inside the previous token
    let start = hit;
    while (start > 0 && !isSpace(text.charCodeAt(start - 1))) if (hit - --start > MAX_TOKEN) return null;
    let end = hit;
    while (end < text.length && !isSpace(text.charCodeAt(end))) if (++end - hit > MAX_TOKEN) return null;
    windows.push(start, end);
  }
  return windows;
}

export function createSecretsDetector(options: SecretsOptions = {}): Detector {
  // One rule instance per detector, created once; `current` receives the reports of the scan in progress.
  let current: { text: string; out: Match[]; rule: PreparedRule; offset: number } | null = null;
  const prepared: PreparedRule[] = [];
  for (const [name, rule] of PRESET_RULES) {
    const spec = RULE_SPECS[name];
    if (spec === undefined || spec === 'skipped') continue;
    const context: RuleContext = {
      report: (descriptor) => {
        if (current !== null) collect(current.text, current.out, current.rule, descriptor, current.offset);
      },
      ignore: () => {},
      createTranslator: () => (messageId, props) => ({ messageId, props }),
    };
    const entry: PreparedRule = { spec, fallback: kind(name.replace(/\W/g, '_'), 'high', 'SECRET', ''), handlers: {} };
    entry.handlers = rule.create(context, spec.options ?? {});
    prepared.push(entry);
  }
  const ungated = options.ungated === true;
  const ungatedLocal = options.wholeText === true;
  const run = (rule: PreparedRule, text: string, out: Match[], content: string, offset: number) => {
    current = { text, out, rule, offset };
    for (const filePath of rule.spec.filePaths ?? [undefined]) rule.handlers.file?.({ content, filePath, ext: '', contentType: 'text' });
  };
  // One pass over the text finds which gates open: every trigger literal in one case-insensitive
  // alternation (cheaper than 50 `includes`; a case-insensitive hit on a case-sensitive trigger
  // only runs a rule that then finds nothing).
  // Each literal opens rules: wholly (FULL), or around its hits only (LOCAL).
  const gateOf = new Map<string, { rule: number; local: boolean }[]>();
  const addGate = (literal: string, index: number, local = false) => {
    const key = literal.toLowerCase();
    const entries = gateOf.get(key) ?? [];
    const same = entries.find((e) => e.rule === index);
    if (same === undefined) gateOf.set(key, [...entries, { rule: index, local }]);
    else same.local &&= local;
  };
  prepared.forEach((rule, i) => {
    const local = new Set(rule.spec.local ?? []);
    for (const t of [...rule.spec.triggers, ...(rule.spec.foldedTriggers ?? [])]) addGate(t, i, local.has(t));
  });
  const OURS = { jwt: prepared.length, password: prepared.length + 1, url: prepared.length + 2 };
  addGate('eyJ', OURS.jwt);
  for (const t of ['password', 'passwd', 'pwd']) addGate(t, OURS.password);
  addGate('://', OURS.url);
  const gate = new RegExp(
    [...gateOf.keys()]
      .sort((a, b) => b.length - a.length)
      .map(escapeLiteral)
      .join('|'),
    'gi',
  );
  const open = new Uint8Array(prepared.length + 3);
  const hits: number[][] = prepared.map(() => []);
  return {
    ids: SECRET_IDS,
    // The private key rule spans at most 10,000 base64 characters plus its two armour lines.
    window: Math.max(10_200, JWT_MAX),
    detect(text, out) {
      if (ungated) open.fill(FULL);
      else {
        open.fill(CLOSED);
        for (const h of hits) h.length = 0;
        gate.lastIndex = 0;
        for (let m = gate.exec(text); m !== null; m = gate.exec(text)) {
          for (const { rule, local } of gateOf.get(m[0].toLowerCase())!) {
            if (!local || ungatedLocal) open[rule] = FULL;
            else if (open[rule] !== FULL) {
              open[rule] = LOCAL;
              hits[rule]!.push(m.index);
            }
          }
          // Literals may overlap (`ops_eyJ…` holds `ops_ey` and `eyJ`): resume one past the start.
          gate.lastIndex = m.index + 1;
        }
      }
      for (let i = 0; i < prepared.length; i++) {
        if (open[i] === CLOSED) continue;
        const rule = prepared[i]!;
        const windows = open[i] === LOCAL ? tokensAround(text, hits[i]!) : null;
        try {
          if (windows === null) run(rule, text, out, text, 0);
          else for (let w = 0; w < windows.length; w += 2) run(rule, text, out, text.slice(windows[w], windows[w + 1]), windows[w]!);
        } catch {
          // A rule that throws on odd input finds nothing in it; the scan goes on.
        } finally {
          current = null;
        }
      }
      if (open[OURS.jwt] !== CLOSED) detectJwts(text, out);
      if (open[OURS.password] !== CLOSED) detectPasswords(text, out);
      if (open[OURS.url] !== CLOSED) detectUrlCredentials(text, out);
    },
  };
}

function escapeLiteral(literal: string): string {
  return literal.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/** Turns one report of a rule into a match over the value's exact range. */
function collect(text: string, out: Match[], rule: PreparedRule, { message, range }: Report, offset: number): void {
  const { messageId, props } = (typeof message === 'object' && message !== null ? message : {}) as Partial<Translated>;
  const listed = rule.spec.kinds[messageId ?? ''];
  if (listed === 'dropped') return;
  const k = listed ?? rule.fallback;
  const value = props?.[k.valueProp];
  let start = (range[0] ?? 0) + offset;
  let end = (range[1] ?? range[0] ?? 0) + offset;
  // Some rules report the start of the whole match with the length of the captured value (the AWS
  // secret key, x-oauth-basic): the value itself is where it is found from the reported start.
  if (typeof value === 'string' && value.length > 0) {
    const at = text.indexOf(value, start);
    if (at !== -1 && at - start <= 1024) {
      start = at;
      end = at + value.length;
    }
  }
  // A value with fewer than four letters or digits is punctuation a loose rule caught on code (the
  // `.npmrc` rule's `_authToken=(.*)` on `'_authToken=',`), not a credential.
  if (end > start && alphanumerics(text, start, end) >= 4) out.push({ detector: k.id, severity: k.severity, label: k.label, start, end });
}

function alphanumerics(text: string, start: number, end: number): number {
  let n = 0;
  for (let i = start; i < end && n < 4; i++) {
    const c = text.charCodeAt(i);
    if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) n++;
  }
  return n;
}

function detectJwts(text: string, out: Match[]): void {
  JWT_PATTERN.lastIndex = 0;
  for (let m = JWT_PATTERN.exec(text); m !== null; m = JWT_PATTERN.exec(text)) {
    const token = m[0];
    if (token.length > JWT_MAX) continue;
    if (isJwtHeader(token.slice(0, token.indexOf('.')))) out.push({ detector: JWT.id, severity: JWT.severity, label: JWT.label, start: m.index, end: m.index + token.length });
  }
}

function detectPasswords(text: string, out: Match[]): void {
  PASSWORD_PATTERN.lastIndex = 0;
  for (let m = PASSWORD_PATTERN.exec(text); m !== null; m = PASSWORD_PATTERN.exec(text)) {
    const value = m[2]!;
    if (isPlaceholder(value) || (m[1] === '' && CODE_VALUE.test(value))) continue;
    const [start, end] = m.indices![2]!;
    out.push({ detector: PASSWORD.id, severity: PASSWORD.severity, label: PASSWORD.label, start, end });
  }
}

function detectUrlCredentials(text: string, out: Match[]): void {
  URL_CREDENTIALS_PATTERN.lastIndex = 0;
  for (let m = URL_CREDENTIALS_PATTERN.exec(text); m !== null; m = URL_CREDENTIALS_PATTERN.exec(text)) {
    const [start, end] = m.indices![2]!;
    if (!isPlaceholder(m[2]!)) out.push({ detector: URL_CREDENTIALS.id, severity: URL_CREDENTIALS.severity, label: URL_CREDENTIALS.label, start, end });
    // The next URL may start inside this one's host.
    URL_CREDENTIALS_PATTERN.lastIndex = m.index + m[0].length - 1;
  }
}
