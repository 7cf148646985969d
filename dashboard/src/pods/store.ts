// The failing-pods list as the stream builds it (snapshot, then upserts and removals), sorted and filtered.
import type { FailingPod } from '../api/types';

export type PodMap = ReadonlyMap<string, FailingPod>;

export function fromSnapshot(pods: readonly FailingPod[]): PodMap {
  const map = new Map<string, FailingPod>();
  for (const pod of pods) map.set(pod.pod_id, pod);
  return map;
}

/** A new map with the update applied; the same map when nothing changed. */
export function applyUpdate(map: PodMap, upsert: readonly FailingPod[] = [], remove: readonly string[] = []): PodMap {
  if (upsert.length === 0 && !remove.some((id) => map.has(id))) return map;
  const next = new Map(map);
  for (const id of remove) next.delete(id);
  for (const pod of upsert) next.set(pod.pod_id, pod);
  return next;
}

const collator = new Intl.Collator('en', { numeric: true });

export function sortPods(map: PodMap): FailingPod[] {
  return [...map.values()].sort((a, b) => collator.compare(a.namespace, b.namespace) || collator.compare(a.pod, b.pod));
}

export function namespacesOf(pods: readonly FailingPod[]): string[] {
  return [...new Set(pods.map((p) => p.namespace))].sort(collator.compare);
}

export interface PodFilter {
  namespace: string;
  query: string;
}

function haystack(pod: FailingPod): string {
  return [pod.pod, pod.namespace, pod.owner ?? '', pod.phase, pod.reason, ...(pod.reasons ?? []), pod.diagnosis?.category ?? '', pod.diagnosis?.diagnosis ?? '']
    .join('\n')
    .toLowerCase();
}

const haystacks = new WeakMap<FailingPod, string>();

/** Pods of the namespace ('' for all) whose name, owner, reasons or diagnosis contain every word of the query. */
export function filterPods(pods: readonly FailingPod[], filter: PodFilter): FailingPod[] {
  const words = filter.query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!filter.namespace && words.length === 0) return pods as FailingPod[];
  return pods.filter((pod) => {
    if (filter.namespace && pod.namespace !== filter.namespace) return false;
    if (words.length === 0) return true;
    let text = haystacks.get(pod);
    if (text === undefined) {
      text = haystack(pod);
      haystacks.set(pod, text);
    }
    return words.every((w) => text.includes(w));
  });
}

/** The pod's reasons for chips: `reasons`, else the single `reason`. */
export function reasonsOf(pod: FailingPod): string[] {
  const list = pod.reasons && pod.reasons.length > 0 ? pod.reasons : [pod.reason];
  return list.filter(Boolean);
}

/** The mirrors of the pod still alive (not past their expiry). */
export function activeMirrors(pod: FailingPod): NonNullable<FailingPod['mirrors']> {
  return pod.mirrors ?? [];
}
