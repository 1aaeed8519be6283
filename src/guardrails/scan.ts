import type { Finding, Match, Scanner } from './types.js';

/**
 * Keys of the model dialects whose string values are identifiers, enumerations or encoded media,
 * never text an agent wrote: not scanned (a model name, a role, a tool call id, a base64 image).
 */
export const MODEL_SKIP = new Set([
  'model',
  'role',
  'type',
  'id',
  'object',
  'tool_call_id',
  'tool_use_id',
  'media_type',
  'mime_type',
  'mimeType',
  'signature',
  'encrypted_content',
  'data',
  'bytes',
  'format',
  'detail',
  'voice',
  'service_tier',
  'reasoning_effort',
]);
/** Tool arguments (HTTP tools, MCP `params.arguments`) are the agent's own: every string is scanned. */
export const NO_SKIP: ReadonlySet<string> = new Set();

/** A string value in the body that held matches: where it is (to rewrite it) and what was found. */
export interface Site {
  /** The first key of the string's path: which part of the body it is in (`messages`, `query`, `params`, …). */
  top: string | number | undefined;
  holder: Record<string, unknown> | unknown[];
  key: string | number;
  matches: Match[];
}

/** What the scan of one body found. */
export interface BodyScan {
  findings: Finding[];
  sites: Site[];
  /** Text past the profile's `maxChars` was left unscanned. */
  truncated: boolean;
}

/**
 * Scans every string of a parsed JSON body (message texts, system prompts, tool results, tool-call
 * arguments, whatever the dialect nests them in) except those under `skip` keys and `data:` URLs.
 * A finding's path is the dotted JSON path of its string (built only for strings that matched). At
 * most `scanner.maxChars` characters are scanned in total.
 */
export function scanBody(scanner: Scanner, body: unknown, skip: ReadonlySet<string>, prefix: readonly (string | number)[] = []): BodyScan {
  const out: BodyScan = { findings: [], sites: [], truncated: false };
  new Walker(scanner, out, skip).value(body, prefix.slice(), null, '');
  return out;
}

class Walker {
  private left: number;
  private readonly matches: Match[] = [];

  constructor(
    private readonly scanner: Scanner,
    private readonly out: BodyScan,
    private readonly skip: ReadonlySet<string>,
  ) {
    this.left = scanner.maxChars;
  }

  value(v: unknown, path: (string | number)[], holder: Record<string, unknown> | unknown[] | null, key: string | number): void {
    if (typeof v === 'string') {
      if (holder !== null) this.text(v, path, holder, key);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        this.value(v[i], path, v, i);
        path.pop();
      }
      return;
    }
    const o = v as Record<string, unknown>;
    for (const k in o) {
      if (this.skip.has(k)) continue;
      path.push(k);
      this.value(o[k], path, o, k);
      path.pop();
    }
  }

  private text(s: string, path: (string | number)[], holder: Record<string, unknown> | unknown[], key: string | number): void {
    if (s.length < 3 || s.startsWith('data:')) return;
    if (this.left <= 0) {
      this.out.truncated = true;
      return;
    }
    let text = s;
    if (text.length > this.left) {
      text = text.slice(0, this.left);
      this.out.truncated = true;
    }
    this.left -= text.length;
    const found = this.matches;
    found.length = 0;
    this.scanner.scan(text, found);
    if (found.length === 0) return;
    const where = path.join('.');
    const matches = found.slice();
    for (let i = 0; i < matches.length; i++) {
      const m = matches[i];
      this.out.findings.push({ detector: m.detector, severity: m.severity, path: where });
    }
    this.out.sites.push({ top: path[0], holder, key, matches });
  }
}

/**
 * Replaces every match of a scan with a typed, numbered placeholder (`[EMAIL_1]`): the same value
 * gets the same placeholder throughout the request. Rewrites the body in place; returns the
 * placeholders with the values they stand for (kept in memory for the response, never recorded).
 */
export function redactSites(sites: readonly Site[]): Map<string, string> {
  const byValue = new Map<string, string>();
  const counters = new Map<string, number>();
  const placeholders = new Map<string, string>();
  for (const site of sites) {
    const h = site.holder as Record<string | number, unknown>;
    const s = h[site.key] as string;
    let out = '';
    let at = 0;
    for (const m of site.matches) {
      const value = s.slice(m.start, m.end);
      let p = byValue.get(value);
      if (p === undefined) {
        const n = (counters.get(m.label) ?? 0) + 1;
        counters.set(m.label, n);
        p = `[${m.label}_${n}]`;
        byValue.set(value, p);
        placeholders.set(p, value);
      }
      out += s.slice(at, m.start) + p;
      at = m.end;
    }
    h[site.key] = out + s.slice(at);
  }
  return placeholders;
}
