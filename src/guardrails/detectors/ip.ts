/**
 * IP addresses (`pii.ip`, low): an address can identify a person's connection or an internal host.
 *
 * IPv4 counts as four dotted decimal octets 0–255 without leading zeros, not glued to a letter,
 * digit or dot, nor right after `-`, `#` or `§` (`1.2.3.4.5`, `v1.2.3.4` and `section-5.2.2.10` are
 * not addresses). Left out on purpose: 0.0.0.0,
 * 255.255.255.255 and 127.0.0.0/8 (they name no one); addresses whose four octets are single digits
 * (`1.2.3.4`, `2.0.0.1`: far more often versions than hosts); anything right after the word
 * `version`/`ver`. Private ranges (10/8, 172.16/12, 192.168/16) do count: they map an internal network.
 *
 * IPv6 counts when Node's `net.isIPv6` accepts the candidate, it has at least one decimal digit (so
 * `dead::beef` and C++'s `std::map` are not addresses) and it is not `::` or `::1`. Zone ids
 * (`%eth0`) and bracketed URL hosts count without the brackets.
 */
import { isIPv6 } from 'node:net';
import type { Detector, DetectorId } from './detector.js';

const IP: DetectorId = { id: 'pii.ip', severity: 'low', label: 'IP' };

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`(?<![\\p{L}\\p{N}_.#§-])${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}(?![\\p{L}\\p{N}_]|\\.\\d)`, 'gu');
const VERSION_BEFORE = /\b(?:version|ver\.?)\s*$/i;

/** Hex groups and colons (at least two), with an optional dotted IPv4 tail; `isIPv6` decides. */
const IPV6 = /(?<![\p{L}\p{N}_:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\p{L}\p{N}_:])/gu;

function ipv4Counts(text: string, start: number, octets: string[]): boolean {
  const [a, b, c, d] = octets;
  if (a === '127' || a === '0' || (a === '255' && b === '255' && c === '255' && d === '255')) return false;
  if (octets.every((o) => o.length === 1)) return false;
  return !VERSION_BEFORE.test(text.slice(Math.max(0, start - 12), start));
}

/**
 * Where an IPv4 match could start at or after `from`: three characters before a dot between two
 * digits (a match's first dot is at most three characters after its start), or -1.
 */
function nextIpv4Start(text: string, from: number): number {
  for (let dot = text.indexOf('.', from + 1); dot !== -1; dot = text.indexOf('.', dot + 1)) {
    if (isDigit(text.charCodeAt(dot - 1)) && isDigit(text.charCodeAt(dot + 1))) return Math.max(from, dot - 3);
  }
  return -1;
}

/**
 * Where an IPv6 match could start at or after `from`: four characters before two colons at most
 * five apart (every match holds such a pair: hex groups have at most four digits), or -1.
 */
function nextIpv6Start(text: string, from: number): number {
  let colon = text.indexOf(':', from);
  while (colon !== -1) {
    const next = text.indexOf(':', colon + 1);
    if (next === -1) return -1;
    if (next - colon <= 5) return Math.max(from, colon - 4);
    colon = next;
  }
  return -1;
}

const isDigit = (c: number) => c >= 48 && c <= 57;

/** `ungated`: run both patterns from every position (tests prove the gates never hide a match). */
export function createIpDetector(opts: { ungated?: boolean } = {}): Detector {
  const everywhere = (text: string, from: number) => (from <= text.length ? from : -1);
  const ipv4From = opts.ungated ? everywhere : nextIpv4Start;
  const ipv6From = opts.ungated ? everywhere : nextIpv6Start;
  return {
    ids: [IP],
    window: 45,
    detect(text, out) {
      // Both patterns start with a look-behind, so V8 tries them at every position of the text:
      // they run only from where a match can start (a dot between digits; two close colons), and
      // the look-behinds keep a start inside a longer token from matching.
      for (let at = ipv4From(text, 0); at !== -1; ) {
        IPV4.lastIndex = at;
        const m = IPV4.exec(text);
        if (m === null) break;
        if (ipv4Counts(text, m.index, [m[1]!, m[2]!, m[3]!, m[4]!])) out.push({ detector: IP.id, severity: IP.severity, label: IP.label, start: m.index, end: m.index + m[0].length });
        at = ipv4From(text, m.index + Math.max(1, m[0].length));
      }
      for (let at = ipv6From(text, 0); at !== -1; ) {
        IPV6.lastIndex = at;
        const m = IPV6.exec(text);
        if (m === null) break;
        const candidate = m[0];
        const end = m.index + Math.max(1, candidate.length);
        at = ipv6From(text, end);
        if (!/\d/.test(candidate) || !isIPv6(candidate)) continue;
        if (/^[0:]*:(?:0*1)?$/.test(candidate)) continue; // ::, ::1 and their long forms
        out.push({ detector: IP.id, severity: IP.severity, label: IP.label, start: m.index, end: m.index + candidate.length });
      }
    },
  };
}
