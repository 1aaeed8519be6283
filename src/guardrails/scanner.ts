/**
 * A profile's scanner: its detectors compiled once per configuration, run on one string at a time.
 *
 * `scan` runs each enabled detector family (each is linear and gates its expensive part on cheap
 * literal checks: `@`, `-----BEGIN`, `AKIA`, digits, …), applies the profile's severity overrides,
 * then orders the matches by start and removes overlaps: of two overlapping matches the more severe
 * wins, then the longer, then the earlier. Text past `maxChars` is not scanned. `scan` never throws:
 * a detector that fails on odd input contributes nothing for that string.
 */
import { type GuardrailProfile, type GuardrailsConfig, PII_DETECTORS, type PiiDetectorName } from '../config/schema.js';
import { createCardDetector } from './detectors/card.js';
import { createPatternDetector, createWordsDetector } from './detectors/custom.js';
import { type Detector, type DetectorId, SEVERITY_RANK } from './detectors/detector.js';
import { createEmailDetector } from './detectors/email.js';
import { createIbanDetector } from './detectors/iban.js';
import { createIpDetector } from './detectors/ip.js';
import { createNationalIdDetector } from './detectors/national-id.js';
import { createPhoneDetector } from './detectors/phone.js';
import { createSecretsDetector } from './detectors/secrets.js';
import type { Match, Scanner, Severity } from './types.js';

export type { GuardrailProfile } from '../config/schema.js';

const MIB = 1024 * 1024;

/** A profile with every key set (what the schema's defaults give). */
export function profileDefaults(overrides: Partial<GuardrailProfile> = {}): GuardrailProfile {
  return { secrets: true, pii: [...PII_DETECTORS], defaultRegion: 'US', patterns: [], words: [], responses: false, restore: true, maxScanBytes: MIB, severities: {}, ...overrides };
}

/**
 * The built-in profiles, present even when the configuration names none; a configured profile of
 * the same name replaces one. `standard`: secrets and every personal-data detector on what agents
 * send. `strict`: the same detectors, on the model's responses too.
 */
export const BUILTIN_PROFILES: Readonly<Record<'standard' | 'strict', GuardrailProfile>> = {
  standard: profileDefaults(),
  strict: profileDefaults({ responses: true }),
};

const PII_FACTORIES: Readonly<Record<PiiDetectorName, (profile: GuardrailProfile) => Detector>> = {
  email: () => createEmailDetector(),
  phone: (profile) => createPhoneDetector(profile.defaultRegion),
  card: () => createCardDetector(),
  iban: () => createIbanDetector(),
  national_id: () => createNationalIdDetector(),
  ip: () => createIpDetector(),
};

/** The detectors of a profile, in a fixed order (secrets first). Throws on a refused custom pattern. */
export function profileDetectors(profile: GuardrailProfile): Detector[] {
  const detectors: Detector[] = [];
  if (profile.secrets) detectors.push(createSecretsDetector());
  for (const name of PII_DETECTORS) if (profile.pii.includes(name)) detectors.push(PII_FACTORIES[name](profile));
  for (const p of profile.patterns) detectors.push(createPatternDetector(p));
  for (const w of profile.words) detectors.push(createWordsDetector(w));
  return detectors;
}

/** Compiles a profile. Throws (an Error naming the pattern) when a custom pattern is refused. */
export function createScanner(name: string, profile: GuardrailProfile): Scanner {
  const detectors = profileDetectors(profile);
  const overrides = new Map<string, Severity>(Object.entries(profile.severities));
  const maxChars = profile.maxScanBytes;
  const window = Math.max(0, ...detectors.map((d) => d.window));
  const raw: Match[] = [];
  return {
    profile: name,
    maxChars,
    responses: profile.responses,
    restore: profile.restore,
    window,
    scan(text, out) {
      if (typeof text !== 'string' || text.length === 0) return;
      const scanned = text.length > maxChars ? text.slice(0, maxChars) : text;
      raw.length = 0;
      for (const detector of detectors) {
        try {
          detector.detect(scanned, raw);
        } catch {
          // A detector that fails on odd input finds nothing in it; the others still run.
        }
      }
      if (raw.length === 0) return;
      if (overrides.size > 0) {
        for (const m of raw) {
          const severity = overrides.get(m.detector);
          if (severity !== undefined) m.severity = severity;
        }
      }
      resolveOverlaps(raw, out);
      raw.length = 0;
    },
  };
}

/**
 * Pushes to `out` the matches of `raw` ordered by start, without overlaps: where two overlap the
 * more severe wins, then the longer, then the one that starts first.
 */
export function resolveOverlaps(raw: Match[], out: Match[]): void {
  raw.sort((a, b) => a.start - b.start || b.end - a.end);
  let last: Match | null = null;
  for (const m of raw) {
    if (m.end <= m.start) continue;
    if (last === null || m.start >= last.end) {
      out.push(m);
      last = m;
    } else if (beats(m, last)) {
      // Only `last` can overlap `m`: every match kept before it ends before `last` starts, and `m`
      // starts no earlier than `last`. So replacing it keeps `out` ordered and disjoint.
      out[out.length - 1] = m;
      last = m;
    }
  }
}

function beats(a: Match, b: Match): boolean {
  const bySeverity = SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity];
  if (bySeverity !== 0) return bySeverity > 0;
  return a.end - a.start > b.end - b.start;
}

/** The detector ids of a profile with their default severity and label (docs, tests, config checks). */
export function profileDetectorIds(profile: GuardrailProfile): DetectorId[] {
  return profileDetectors(profile).flatMap((d) => d.ids);
}

/**
 * One scanner per profile: the built-in ones, replaced or joined by the configured ones. Built once
 * per configuration. Throws when a custom pattern is refused (config loading reports it first).
 */
export function createScanners(config: GuardrailsConfig | undefined): Map<string, Scanner> {
  const profiles: Record<string, GuardrailProfile> = { ...BUILTIN_PROFILES, ...(config?.profiles ?? {}) };
  const scanners = new Map<string, Scanner>();
  for (const [name, profile] of Object.entries(profiles)) scanners.set(name, createScanner(name, profile));
  return scanners;
}
