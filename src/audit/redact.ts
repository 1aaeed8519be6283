import type { Match, Scanner } from '../guardrails/types.js';

/**
 * Redaction of captured bodies before they are stored: the credentials the gateway holds (the
 * providers' keys it injects) wherever they appear, what the guardrails' scanner finds (secrets and
 * personal data, as `[REDACTED:<detector>]`), and common secret shapes by pattern (also where the
 * text is JSON-escaped or cut, which a scanner of plain text can miss).
 */
const PATTERNS: readonly [string, RegExp][] = [
  ['private_key', /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g],
  ['jwt', /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g],
  ['api_key', /\b(?:sk|pk|rk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{16,}/g],
  ['aws_access_key', /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g],
  ['github_token', /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g],
  ['slack_token', /\bxox[abprs]-[A-Za-z0-9-]{10,}/g],
  ['bearer', /\b(Bearer\s+)[A-Za-z0-9._~+/=-]{16,}/gi],
  ['secret_field', /("(?:api[_-]?key|password|passwd|secret|token|access[_-]?token|client[_-]?secret|authorization)"\s*:\s*")(?:[^"\\]|\\.)*(")/gi],
];

export type Redactor = (text: string) => string;

export function createRedactor(knownSecrets: Iterable<string>, scanner: Scanner | null = null): Redactor {
  const known = [...new Set(knownSecrets)].filter((s) => s.length >= 8).sort((a, b) => b.length - a.length);
  const found: Match[] = [];
  return (text) => {
    let out = text;
    for (const s of known) if (out.includes(s)) out = out.split(s).join('[REDACTED:credential]');
    if (scanner !== null) {
      found.length = 0;
      scanner.scan(out, found);
      if (found.length > 0) {
        let kept = '';
        let at = 0;
        for (const m of found) {
          kept += `${out.slice(at, m.start)}[REDACTED:${m.detector}]`;
          at = m.end;
        }
        out = kept + out.slice(at);
      }
    }
    for (const [kind, re] of PATTERNS) {
      out = out.replace(re, (...m: string[]) => (kind === 'bearer' ? `${m[1]}[REDACTED:${kind}]` : kind === 'secret_field' ? `${m[1]}[REDACTED:${kind}]${m[2]}` : `[REDACTED:${kind}]`));
    }
    return out;
  };
}
