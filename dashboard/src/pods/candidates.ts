// A diagnosis's candidate changes: which one to show first (the one a mirror proved Healthy), the diagnosis as if a candidate were its own change, and each candidate's verdict.
import type { DiagnosisView } from '../api/types';

export type Candidate = NonNullable<DiagnosisView['candidates']>[number];
export type CandidateTry = DiagnosisView['tries'][number];

/** A diagnosis's candidates (none stored by an older version). */
export function candidatesOf(d: DiagnosisView): Candidate[] {
  return d.candidates ?? [];
}

/** The candidate to show first: the one a mirror proved Healthy, else the first. */
export function shownCandidate(d: DiagnosisView): number {
  const i = d.verifiedCandidate;
  return d.verifiedBy?.verdict === 'Healthy' && typeof i === 'number' && i < candidatesOf(d).length ? i : 0;
}

/** The diagnosis with candidate `i` as its own fix (its words, patch, command and confidence). */
export function asCandidate(d: DiagnosisView, i: number): DiagnosisView {
  const c = candidatesOf(d)[i];
  if (!c) return d;
  return { ...d, suggested_fix: c.suggested_fix, patch: c.patch, fix_command: c.fix_command, confidence_score: c.confidence_score };
}

/** What a mirror said of candidate `i`, if one tried it. */
export function tryOf(d: DiagnosisView, i: number): CandidateTry | null {
  return d.tries.find((t) => t.candidate === i) ?? null;
}
