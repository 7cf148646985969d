// Failing pods for the tests.
import type { FailingPod } from '../api/types';

/** A failing pod with every field filled, `extra` on top. */
export function pod(namespace: string, name: string, extra: Partial<FailingPod> = {}): FailingPod {
  return {
    namespace,
    pod: name,
    pod_id: `${namespace}:${name}`,
    phase: 'Pending',
    reason: 'ImagePullBackOff',
    reasons: ['ImagePullBackOff'],
    restarts: 0,
    owner: null,
    diagnosis: null,
    ready: 0,
    containers: 1,
    created_at: '2026-12-03T11:00:00Z',
    last_restart_at: null,
    mirrors: [],
    ...extra,
  } as FailingPod;
}
