/**
 * Email addresses, found from each `@` by hand (no regular expression): the local part is walked
 * back over `[A-Za-z0-9._%+-]`, the domain forward over labels of `[A-Za-z0-9-]`. Neither walk
 * crosses an `@`, so every code unit is visited a bounded number of times: `a@a@a@…` is linear.
 *
 * Counts: `local@domain.tld` with a local part of 1–64 characters (no leading, trailing or double
 * dot), at least two domain labels (each 1–63 characters, no leading or trailing hyphen) and an
 * alphabetic top-level label of 2–24 letters. Does not count: quoted local parts, IP-literal domains
 * (`user@[10.0.0.1]`), internationalised (non-ASCII) addresses, `user@localhost`.
 */
import type { Detector, DetectorId } from './detector.js';

const EMAIL: DetectorId = { id: 'pii.email', severity: 'medium', label: 'EMAIL' };

function isLocalCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 95 || c === 37 || c === 43 || c === 45;
}

function isLabelCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45;
}

function isAlpha(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

export function createEmailDetector(): Detector {
  return {
    ids: [EMAIL],
    window: 64 + 1 + 255,
    detect(text, out) {
      let at = text.indexOf('@');
      while (at !== -1) {
        const next = text.indexOf('@', at + 1);
        const m = emailAround(text, at, next === -1 ? text.length : next);
        if (m !== null) out.push({ detector: EMAIL.id, severity: EMAIL.severity, label: EMAIL.label, start: m[0], end: m[1] });
        at = next;
      }
    },
  };
}

/** The address around the `@` at `at` (the domain ends before `limit`, the next `@`), or null. */
function emailAround(text: string, at: number, limit: number): [number, number] | null {
  // Local part: back over local characters, at most 64 of them.
  let start = at;
  while (start > 0 && at - start < 65 && isLocalCode(text.charCodeAt(start - 1))) start--;
  if (at - start > 64) return null;
  while (start < at && text.charCodeAt(start) === 46) start++; // a leading dot is punctuation
  if (start === at || text.charCodeAt(at - 1) === 46) return null;
  for (let i = start + 1; i < at; i++) if (text.charCodeAt(i) === 46 && text.charCodeAt(i - 1) === 46) return null;
  // Domain: labels separated by single dots; stop at the first character that is neither.
  let end = at + 1;
  let labels = 0;
  let lastLabelStart = end;
  let lastLabelEnd = end;
  while (end < limit && end - at <= 255) {
    const labelStart = end;
    while (end < limit && isLabelCode(text.charCodeAt(end))) end++;
    if (end === labelStart || end - labelStart > 63) break;
    if (text.charCodeAt(labelStart) === 45 || text.charCodeAt(end - 1) === 45) break;
    labels++;
    lastLabelStart = labelStart;
    lastLabelEnd = end;
    if (end + 1 < limit && text.charCodeAt(end) === 46 && isLabelCode(text.charCodeAt(end + 1))) end++;
    else break;
  }
  if (labels < 2) return null;
  // The top-level label: letters only, 2–24 of them.
  const tld = lastLabelEnd - lastLabelStart;
  if (tld < 2 || tld > 24) return null;
  for (let i = lastLabelStart; i < lastLabelEnd; i++) if (!isAlpha(text.charCodeAt(i))) return null;
  return [start, lastLabelEnd];
}
