// One failing pod's row: reason chips, ready n/m, restarts "N (x ago)", age, diagnosis, an active mirror's countdown chip.
import { Component } from 'preact';
import type { FailingPod, MirrorRef } from '../api/types';
import { serverSkew, Ticking } from '../ui/clock';
import { useShell } from '../ui/shell';
import { formatAge, formatCountdown, formatRestarts, remainingSeconds } from '../ui/time';
import { PodDetails } from './PodDetails';
import { reasonsOf } from './store';

export interface PodRowProps {
  pod: FailingPod;
  selected: boolean;
  expanded: boolean;
  onToggle: (id: string) => void;
  onSelect: (id: string) => void;
}

/** Re-renders only when its pod object, selection or expansion changes (the stream replaces changed pods only). */
export class PodRow extends Component<PodRowProps> {
  override shouldComponentUpdate(next: PodRowProps): boolean {
    const p = this.props;
    return next.pod !== p.pod || next.selected !== p.selected || next.expanded !== p.expanded || next.onToggle !== p.onToggle;
  }

  override render({ pod, selected, expanded, onToggle, onSelect }: PodRowProps) {
    const id = pod.pod_id;
    const detailsId = `details-${id.replace(/[^A-Za-z0-9_-]/g, '-')}`;
    return (
      <li class={`pod-row${selected ? ' selected' : ''}${expanded ? ' expanded' : ''}`} data-testid="pod-row" data-pod-id={id} data-window-key={id} onMouseDown={() => onSelect(id)}>
        <div class="pod-line">
          <span class="cell cell-pod">
            <button type="button" class="pod-toggle" aria-expanded={expanded} aria-controls={detailsId} data-toggle-for={id} onClick={() => onToggle(id)}>
              <span class="chev" aria-hidden="true" />
              <span class="pod-name">{pod.pod}</span>
            </button>
            {pod.owner ? <span class="pod-owner">{pod.owner}</span> : null}
          </span>
          <span class="cell" data-label="Namespace">
            {pod.namespace}
          </span>
          <span class="cell cell-reasons" data-label="Status">
            {reasonsOf(pod).map((r) => (
              <span key={r} class={`chip ${reasonTone(r)}`}>
                {r}
              </span>
            ))}
          </span>
          <span class="cell num" data-label="Ready">
            {pod.ready ?? 0}/{pod.containers ?? 0}
          </span>
          <span class="cell num" data-label="Restarts">
            {pod.restarts > 0 && pod.last_restart_at ? <Ticking text={(now) => formatRestarts(pod.restarts, pod.last_restart_at, now + serverSkew())} /> : String(pod.restarts)}
          </span>
          <span class="cell num" data-label="Age">
            <Ticking text={(now) => formatAge(pod.created_at, now + serverSkew())} />
          </span>
          <span class="cell cell-diag" data-label="Diagnosis">
            {pod.diagnosis ? (
              <>
                <span class="chip chip-info">{pod.diagnosis.category}</span>
                <span class="confidence" title={`Confidence ${Math.round(pod.diagnosis.confidence_score * 100)}% (${pod.diagnosis.source})`}>
                  {Math.round(pod.diagnosis.confidence_score * 100)}%
                </span>
              </>
            ) : (
              <span class="muted">—</span>
            )}
          </span>
          <span class="cell cell-mirror" data-label="Mirror">
            {(pod.mirrors ?? []).map((m) => (
              <MirrorChip key={m.id} mirror={m} />
            ))}
          </span>
        </div>
        {expanded ? (
          <div id={detailsId} class="pod-details">
            <PodDetails pod={pod} />
          </div>
        ) : null}
      </li>
    );
  }
}

function reasonTone(reason: string): string {
  if (/BackOff|Error|OOM|Failed|Evicted|Crash/i.test(reason)) return 'chip-bad';
  if (/Unschedulable|Pending|Creating|Init|Unhealthy/i.test(reason)) return 'chip-warn';
  return 'chip-muted';
}

function MirrorChip({ mirror }: { mirror: MirrorRef }) {
  const shell = useShell();
  const tone = mirror.verdict === 'Healthy' ? 'chip-good' : mirror.verdict === 'Failing' ? 'chip-bad' : 'chip-info';
  return (
    <button
      type="button"
      class={`chip chip-button ${tone}`}
      data-testid="mirror-chip"
      aria-label={`Open mirror ${mirror.id} (${mirror.verdict})`}
      title={`${mirror.id}: ${mirror.phase}, ${mirror.verdict}`}
      onClick={(e) => {
        e.stopPropagation();
        shell.openDialog({ kind: 'mirror', id: mirror.id });
      }}
    >
      mirror <Ticking text={(now) => formatCountdown(remainingSeconds(mirror.expires_at, serverSkew(), now, mirror.ttl_seconds))} />
    </button>
  );
}
