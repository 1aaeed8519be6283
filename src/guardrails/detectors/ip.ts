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

export function createIpDetector(): Detector {
  return {
    ids: [IP],
    window: 45,
    detect(text, out) {
      if (text.includes('.')) {
        IPV4.lastIndex = 0;
        for (let m = IPV4.exec(text); m !== null; m = IPV4.exec(text)) {
          if (ipv4Counts(text, m.index, [m[1]!, m[2]!, m[3]!, m[4]!])) out.push({ detector: IP.id, severity: IP.severity, label: IP.label, start: m.index, end: m.index + m[0].length });
        }
      }
      if (text.includes(':')) {
        IPV6.lastIndex = 0;
        for (let m = IPV6.exec(text); m !== null; m = IPV6.exec(text)) {
          const candidate = m[0];
          if (!/\d/.test(candidate) || !isIPv6(candidate)) continue;
          if (/^[0:]*:(?:0*1)?$/.test(candidate)) continue; // ::, ::1 and their long forms
          out.push({ detector: IP.id, severity: IP.severity, label: IP.label, start: m.index, end: m.index + candidate.length });
        }
      }
    },
  };
}
