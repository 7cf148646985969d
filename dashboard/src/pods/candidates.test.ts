// The candidate helpers: the proven one first, a candidate as the diagnosis's own fix, and what a mirror said of each.
import { describe, expect, it } from 'vitest';
import type { DiagnosisView } from '../api/types';
import { asCandidate, candidatesOf, shownCandidate, tryOf } from './candidates';

const candidate = (path: string, confidence: number) => ({
  suggested_fix: `Probe ${path}`,
  patch: [{ op: 'replace', path: '/containers/0/livenessProbe/httpGet/path', value: path }],
  fix_command: `kubectl patch … ${path}`,
  confidence_score: confidence,
});

function diagnosis(extra: Partial<DiagnosisView>): DiagnosisView {
  const first = candidate('/healthz', 0.35);
  return {
    id: 'shop/beacon-1@t',
    namespace: 'shop',
    pod: 'beacon-1',
    pod_uid: 'u',
    owner: { kind: 'Deployment', name: 'beacon' },
    category: 'probe',
    diagnosis: 'The liveness probe fails',
    suggested_fix: first.suggested_fix,
    evidence: [],
    patch: first.patch,
    fix_command: first.fix_command,
    confidence_score: first.confidence_score,
    runnable: true,
    source: 'rules',
    timestamp: '2026-12-05T07:00:00Z',
    candidates: [first, candidate('/health', 0.34), candidate('/livez', 0.33)],
    savedAt: '2026-12-05T07:00:01Z',
    verifiedBy: null,
    verifiedCandidate: null,
    tries: [],
    canApplyFix: true,
    ...extra,
  } as DiagnosisView;
}

describe('candidates', () => {
  it('shows the first until a mirror proves another Healthy', () => {
    expect(shownCandidate(diagnosis({}))).toBe(0);
    const failed = diagnosis({ verifiedBy: { mirror: 'm1', verdict: 'Failing' }, verifiedCandidate: 1 });
    expect(shownCandidate(failed)).toBe(0);
    const proven = diagnosis({ verifiedBy: { mirror: 'm2', verdict: 'Healthy' }, verifiedCandidate: 2 });
    expect(shownCandidate(proven)).toBe(2);
    expect(asCandidate(proven, 2).suggested_fix).toBe('Probe /livez');
    expect(asCandidate(proven, 2).patch).toEqual(candidate('/livez', 0).patch);
    expect(asCandidate(proven, 2).confidence_score).toBe(0.33);
  });

  it("reads each candidate's verdict and copes with a diagnosis stored before candidates", () => {
    const d = diagnosis({ tries: [{ candidate: 1, mirror: 'm1', verdict: 'Failing' }] });
    expect(tryOf(d, 1)).toEqual({ candidate: 1, mirror: 'm1', verdict: 'Failing' });
    expect(tryOf(d, 0)).toBeNull();
    const old = diagnosis({ candidates: undefined });
    expect(candidatesOf(old)).toEqual([]);
    expect(shownCandidate(old)).toBe(0);
    expect(asCandidate(old, 1)).toBe(old);
  });
});
