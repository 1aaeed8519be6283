/**
 * What a detector family exposes to the scanner. A detector pushes its raw matches (possibly
 * overlapping, in any order) to `out`; the scanner applies severity overrides, orders them and
 * resolves overlaps. A detector must be linear in the text's length and must not throw on any
 * string (lone surrogates, NUL, binary-looking text).
 */
import type { Match, Severity } from '../types.js';

export interface Detector {
  /** The detector ids it can emit, with their default severity and label (the docs' table). */
  readonly ids: readonly DetectorId[];
  /** Longest text one of its matches can span (a stream scanner keeps this much look-behind). */
  readonly window: number;
  detect(text: string, out: Match[]): void;
}

export interface DetectorId {
  readonly id: string;
  readonly severity: Severity;
  readonly label: string;
}

export const SEVERITY_RANK: Readonly<Record<Severity, number>> = { low: 0, medium: 1, high: 2, critical: 3 };
