/**
 * Phone numbers, by libphonenumber-js (`findNumbers`, leniency `VALID`, full metadata) with the
 * profile's default region for numbers written without a country code.
 *
 * `findNumbers` costs about 230 µs on 1 KB of prose without a single number, and 20–30 µs per
 * candidate it parses (bench/RESULTS-guardrails.md). So a cheap scan first finds candidate spans
 * (7 to 17 digits, separated by at most two of ` -./()`, not glued to a letter or digit) and only
 * those are handed to `findNumbers`. Two extra rules keep look-alikes out:
 * - grouping: a number written with separators must be grouped as its country writes it (the
 *   digit groups of the text fall on group boundaries of the national format): `2024-000123` is an
 *   order number, not `(202) 400-0123`; `123-45-6789` is an SSN, not a phone;
 * - more than 15 digits (E.164's maximum: card numbers) or a dotted quad (an IPv4 address) is not
 *   parsed at all;
 * - a bounded effort: at most 256 candidates per scanned string (a string of 100 KB of
 *   `12 34 56 78 …` would otherwise cost a second); past that, phones are not looked for.
 */
import { createRequire } from 'node:module';
import type { CountryCode } from 'libphonenumber-js/max';
import type { Detector, DetectorId } from './detector.js';

// The CommonJS build, as config loading uses it to check a profile's region: one copy of the metadata.
const { findNumbers } = createRequire(import.meta.url)('libphonenumber-js/max') as typeof import('libphonenumber-js/max');

const PHONE: DetectorId = { id: 'pii.phone', severity: 'medium', label: 'PHONE' };

/** A run of digits with short separator runs, optionally opened by `+` or `(`. */
const CANDIDATE = /(?<![\p{L}\p{N}_+])(?:\+|\(\+?)?\d(?:[ \-./()]{0,2}\d){6,16}(?![\p{L}\p{N}_])/gu;

export const MAX_PHONE_CANDIDATES = 256;

export function createPhoneDetector(defaultRegion: string): Detector {
  const options = { defaultCountry: defaultRegion as CountryCode, v2: true as const };
  return {
    ids: [PHONE],
    window: 40,
    detect(text, out) {
      CANDIDATE.lastIndex = 0;
      let budget = MAX_PHONE_CANDIDATES;
      for (let m = CANDIDATE.exec(text); m !== null && budget > 0; m = CANDIDATE.exec(text), budget--) {
        const span = m[0];
        if (!worthParsing(span)) continue;
        let found: ReturnType<typeof findNumbers>;
        try {
          found = findNumbers(span, options);
        } catch {
          continue;
        }
        for (const n of found) {
          const raw = span.slice(n.startsAt, n.endsAt);
          if (!groupedAsWritten(raw, n.number.formatNational(), n.number.nationalNumber)) continue;
          out.push({ detector: PHONE.id, severity: PHONE.severity, label: PHONE.label, start: m.index + n.startsAt, end: m.index + n.endsAt });
        }
      }
    },
  };
}

const DOTTED_QUAD = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/**
 * Candidates that cannot be a phone number, rejected before the costly parse: more than 15 digits
 * (E.164's maximum; card numbers), a dotted quad (an IPv4 address).
 */
function worthParsing(span: string): boolean {
  let digits = 0;
  for (let i = 0; i < span.length; i++) if (span.charCodeAt(i) >= 48 && span.charCodeAt(i) <= 57) digits++;
  return digits <= 15 && !DOTTED_QUAD.test(span);
}

/**
 * True when the digit groups of `raw` (split at any non-digit) end on boundaries of the national
 * format's groups, ignoring a leading country code or trunk prefix. A number without separators
 * passes.
 */
function groupedAsWritten(raw: string, national: string, nationalNumber: string): boolean {
  const groups = raw.split(/\D+/).filter((g) => g.length > 0);
  if (groups.length <= 1) return true;
  const digits = groups.join('');
  // The national significant number is the tail of the written digits: drop what precedes it.
  const offset = digits.length - nationalNumber.length;
  if (offset < 0 || !digits.endsWith(nationalNumber)) return false;
  const want = new Set<number>();
  let n = 0;
  const nationalDigits = national.replace(/\D+/g, ' ').trim().split(' ');
  // The national format may carry a trunk prefix (`0` in `020 7946 0958`) the text may omit.
  const trunk = nationalDigits.join('').length - nationalNumber.length;
  for (const g of nationalDigits) {
    n += g.length;
    want.add(n - trunk);
  }
  let at = 0;
  for (const g of groups) {
    at += g.length;
    if (at <= offset) continue; // the country code or trunk prefix
    if (!want.has(at - offset)) return false;
  }
  return true;
}
