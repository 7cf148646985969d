// An expanded pod: its diagnosis (why, evidence, fix, kubectl command, confidence, source), actions, events, logs and YAML.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, describeError, seg } from '../api/client';
import type { ContainerView, DiagnoseResult, DiagnosisView, EventView, FailingPod, PodDetail, PodLogs } from '../api/types';
import { canDeploy, canDiagnose, FIX_REFUSAL, useMe } from '../auth/user';
import { Chip, CopyButton, ErrorText, Spinner } from '../ui/bits';
import { useShell } from '../ui/shell';
import { formatAgo, formatClock } from '../ui/time';
import { useTick } from '../ui/clock';
import { asCandidate, candidatesOf, shownCandidate, tryOf } from './candidates';

type Load<T> = { state: 'loading' } | { state: 'ok'; value: T } | { state: 'missing'; message: string } | { state: 'error'; message: string };

function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): [Load<T>, () => void] {
  const [result, setResult] = useState<Load<T>>({ state: 'loading' });
  const [round, setRound] = useState(0);
  useEffect(() => {
    const abort = new AbortController();
    load(abort.signal).then(
      (value) => !abort.signal.aborted && setResult({ state: 'ok', value }),
      (error: unknown) => {
        if (abort.signal.aborted) return;
        if (error instanceof ApiError && error.status === 404) setResult({ state: 'missing', message: error.message });
        else setResult({ state: 'error', message: describeError(error) });
      },
    );
    return () => abort.abort();
  }, [...deps, round]);
  return [result, () => setRound((r) => r + 1)];
}

/** Whether the diagnosis carries a change a mirror can test: runnable with a non-empty patch. */
export function hasChange(diagnosis: DiagnosisView): boolean {
  return diagnosis.runnable && Array.isArray(diagnosis.patch) && diagnosis.patch.length > 0;
}

export function PodDetails({ pod }: { pod: FailingPod }) {
  // The details follow the row: fetched again when the pod's state changes.
  const version = `${pod.restarts}|${pod.reason}|${pod.ready}|${pod.phase}`;
  const [detail, reloadDetail] = useLoad<PodDetail>((signal) => api.get(`/api/pods/${seg(pod.pod_id)}`, { signal }), [pod.pod_id, version]);
  const [diagnosis, reloadDiagnosis] = useLoad<DiagnosisView>(
    (signal) => api.get(`/api/diagnosis/${encodeURIComponent(pod.pod)}`, { query: { namespace: pod.namespace }, signal }),
    [pod.pod_id, pod.diagnosis?.diagnosis ?? '', pod.diagnosis?.category ?? '', pod.diagnosis?.verdict ?? ''],
  );

  return (
    <div class="details-grid">
      <section class="card details-diagnosis" aria-label="Diagnosis">
        <h3>Diagnosis</h3>
        <DiagnosisSection pod={pod} load={diagnosis} reload={reloadDiagnosis} />
      </section>
      <section class="card" aria-label="Containers">
        <h3>Containers</h3>
        {detail.state === 'ok' ? <Containers containers={detail.value.containers} /> : <LoadState load={detail} />}
      </section>
      <section class="card" aria-label="Events">
        <h3>
          Events
          <button type="button" class="button small ghost" onClick={reloadDetail} aria-label="Refresh events">
            Refresh
          </button>
        </h3>
        {detail.state === 'ok' ? <Events events={detail.value.events} /> : <LoadState load={detail} />}
      </section>
      <section class="card details-logs" aria-label="Logs">
        <h3>Logs</h3>
        {detail.state === 'ok' ? <Logs podId={pod.pod_id} containers={detail.value.containers} /> : <LoadState load={detail} />}
      </section>
      <section class="card details-yaml" aria-label="YAML">
        {detail.state === 'ok' ? (
          <details>
            <summary>YAML</summary>
            <div class="yaml-actions">
              <CopyButton text={detail.value.yaml} label="Copy YAML" />
            </div>
            <pre class="code yaml">{detail.value.yaml}</pre>
          </details>
        ) : (
          <LoadState load={detail} />
        )}
      </section>
    </div>
  );
}

function LoadState({ load }: { load: Load<unknown> }) {
  if (load.state === 'loading') return <Spinner />;
  if (load.state === 'missing' || load.state === 'error') return <ErrorText>{load.message}</ErrorText>;
  return null;
}

function DiagnosisSection({ pod, load, reload }: { pod: FailingPod; load: Load<DiagnosisView>; reload: () => void }) {
  const me = useMe();
  const shell = useShell();
  const [diagnosing, setDiagnosing] = useState(false);
  const [note, setNote] = useState<string | null>(null);

  async function diagnoseNow() {
    setDiagnosing(true);
    setNote(null);
    try {
      const result = await api.post<DiagnoseResult>(`/api/diagnosis/${encodeURIComponent(pod.pod)}`, undefined, { query: { namespace: pod.namespace } });
      if (result.message) setNote(result.message);
      else if (result.healthy) setNote('The pod is running and ready: nothing to diagnose.');
      reload();
    } catch (error) {
      setNote(describeError(error));
    } finally {
      setDiagnosing(false);
    }
  }

  if (load.state === 'loading') return <Spinner />;
  if (load.state === 'error') return <ErrorText>{load.message}</ErrorText>;
  if (load.state === 'missing') {
    return (
      <div>
        <p class="muted" data-testid="no-diagnosis">
          No diagnosis yet. Pods are diagnosed about 10 seconds after they start failing.
        </p>
        {canDiagnose(me) ? (
          <button type="button" class="button" onClick={diagnoseNow} disabled={diagnosing}>
            {diagnosing ? 'Diagnosing…' : 'Diagnose now'}
          </button>
        ) : null}
        {note ? <p class="muted">{note}</p> : null}
      </div>
    );
  }

  const all = load.value;
  // The candidate a mirror proved Healthy is shown (and applied) first.
  const shown = shownCandidate(all);
  const d = asCandidate(all, shown);
  const change = hasChange(d);
  const percent = Math.round(d.confidence_score * 100);
  return (
    <div class="diagnosis" data-testid="diagnosis">
      <div class="diagnosis-meta">
        <Chip tone="info">{d.category}</Chip>
        <span title="How sure the diagnosis is">confidence {percent}%</span>
        <Chip tone="muted" title="Where the diagnosis came from">
          {d.source === 'llm' ? 'LLM' : 'rules'}
        </Chip>
        {d.verifiedBy ? (
          <Chip tone={d.verifiedBy.verdict === 'Healthy' ? 'good' : 'bad'} title={`Mirror ${d.verifiedBy.mirror}`}>
            mirror verdict: {d.verifiedBy.verdict}
          </Chip>
        ) : null}
        <span class="muted small" title={formatClock(d.timestamp)}>
          <DiagnosedAgo at={d.timestamp} />
        </span>
      </div>
      <p class="why">
        <strong>Why: </strong>
        {d.diagnosis}
      </p>
      {d.evidence.length > 0 ? (
        <>
          <h4>Evidence</h4>
          <ul class="evidence">
            {d.evidence.map((e, i) => (
              <li key={i}>{e}</li>
            ))}
          </ul>
        </>
      ) : null}
      <h4>Suggested fix</h4>
      <p>{d.suggested_fix}</p>
      {d.fix_command ? (
        <div class="command">
          <code data-testid="fix-command">{d.fix_command}</code>
          <CopyButton text={d.fix_command} label="Copy kubectl command" />
        </div>
      ) : null}
      <div class="actions">
        {change && canDeploy(me) ? (
          <button type="button" class="button primary" onClick={() => shell.openDialog({ kind: 'testfix', pod, diagnosis: d, candidate: shown, readOnly: false })}>
            Test Fix
          </button>
        ) : null}
        {change && !canDeploy(me) ? (
          <button type="button" class="button" onClick={() => shell.openDialog({ kind: 'testfix', pod, diagnosis: d, candidate: shown, readOnly: true })}>
            Preview
          </button>
        ) : null}
        {change && d.canApplyFix && me.canApplyFix ? (
          <button type="button" class="button" onClick={() => shell.openDialog({ kind: 'apply', pod, diagnosis: d })}>
            Apply fix…
          </button>
        ) : null}
        {canDiagnose(me) ? (
          <button type="button" class="button ghost" onClick={diagnoseNow} disabled={diagnosing}>
            {diagnosing ? 'Diagnosing…' : 'Diagnose again'}
          </button>
        ) : null}
      </div>
      {candidatesOf(all).length > 1 ? <Candidates pod={pod} d={all} shown={shown} deploy={canDeploy(me)} /> : null}
      {change && !me.canApplyFix ? (
        <p class="refusal" data-testid="apply-refusal">
          {FIX_REFUSAL}
        </p>
      ) : null}
      {!d.runnable ? <p class="muted small">This fix needs a person (for example a Secret's value): nothing to test automatically.</p> : null}
      {note ? <p class="muted">{note}</p> : null}
    </div>
  );
}

/** Every candidate change, most likely first, with what a mirror said of it and a button to test it. */
function Candidates({ pod, d, shown, deploy }: { pod: FailingPod; d: DiagnosisView; shown: number; deploy: boolean }) {
  const shell = useShell();
  return (
    <>
      <h4>Candidates ({candidatesOf(d).length}), most likely first</h4>
      <ol class="candidates" data-testid="candidates">
        {candidatesOf(d).map((c, i) => {
          const tried = tryOf(d, i);
          return (
            <li key={i} class={i === shown ? 'candidate shown' : 'candidate'} data-testid="candidate">
              <div class="candidate-head">
                <span class="muted small">{Math.round(c.confidence_score * 100)}%</span>
                {tried ? (
                  <Chip tone={tried.verdict === 'Healthy' ? 'good' : 'bad'} title={`Mirror ${tried.mirror}`}>
                    {tried.verdict}
                  </Chip>
                ) : (
                  <Chip tone="muted">not tried</Chip>
                )}
                {deploy ? (
                  <button
                    type="button"
                    class="button small"
                    aria-label={`Test candidate ${i + 1}`}
                    onClick={() => shell.openDialog({ kind: 'testfix', pod, diagnosis: asCandidate(d, i), candidate: i, readOnly: false })}
                  >
                    Test
                  </button>
                ) : null}
              </div>
              <div>{c.suggested_fix}</div>
            </li>
          );
        })}
      </ol>
    </>
  );
}

function DiagnosedAgo({ at }: { at: string }) {
  const now = useTick();
  return <>diagnosed {formatAgo(at, now) ?? ''}</>;
}

/** Each container's state, readiness and restarts (a pod's details and the mirror panel). */
export function Containers({ containers, testId }: { containers: ContainerView[]; testId?: string }) {
  if (containers.length === 0) return <p class="muted">No containers.</p>;
  return (
    <table class="table compact" data-testid={testId}>
      <thead>
        <tr>
          <th>Container</th>
          <th>State</th>
          <th>Ready</th>
          <th>Restarts</th>
        </tr>
      </thead>
      <tbody>
        {containers.map((c) => (
          <tr key={`${c.init ? 'init:' : ''}${c.name}`}>
            <td>
              {c.name}
              {c.init ? <span class="muted small"> (init)</span> : null}
              <div class="muted small mono">{c.image}</div>
            </td>
            <td>
              <span class={`state state-${c.state}`}>{c.state}</span>
              {c.reason ? <span> · {c.reason}</span> : null}
              {c.exit_code !== null && c.exit_code !== undefined ? <span> · exit {c.exit_code}</span> : null}
              {c.message ? <div class="muted small">{c.message}</div> : null}
            </td>
            <td>{c.ready ? 'yes' : 'no'}</td>
            <td>{c.restarts}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Events({ events }: { events: EventView[] }) {
  const now = useTick();
  if (events.length === 0) return <p class="muted">No events.</p>;
  return (
    <ul class="events" data-testid="events">
      {events.map((e, i) => (
        <li key={`${e.reason}-${i}`} class={e.type === 'Warning' ? 'event-warning' : 'event-normal'}>
          <span class="event-reason">{e.reason}</span>
          {e.count > 1 ? <span class="muted small"> ×{e.count}</span> : null}
          {e.last_seen ? <span class="muted small"> · {formatAgo(e.last_seen, now)}</span> : null}
          <div class="event-message">{e.message}</div>
        </li>
      ))}
    </ul>
  );
}

function Logs({ podId, containers }: { podId: string; containers: ContainerView[] }) {
  const names = containers.map((c) => c.name);
  const [container, setContainer] = useState(() => containers.find((c) => !c.init && c.restarts > 0)?.name ?? containers.find((c) => !c.init)?.name ?? names[0] ?? '');
  // The current/previous toggle is kept per container.
  const [previous, setPrevious] = useState<Record<string, boolean>>({});
  const isPrevious = previous[container] ?? false;
  const [logs, reload] = useLoad<PodLogs>(
    (signal) => (container ? api.get(`/api/pods/${seg(podId)}/logs`, { query: { container, previous: isPrevious, tail: 200 }, signal }) : Promise.resolve({ container: '', previous: false, lines: [] })),
    [podId, container, isPrevious],
  );
  if (names.length === 0) return <p class="muted">No containers.</p>;
  return (
    <div class="logs">
      <div class="logs-bar">
        <label class="inline">
          <span class="sr-only">Container</span>
          <select aria-label="Log container" value={container} onChange={(e) => setContainer((e.target as HTMLSelectElement).value)}>
            {containers.map((c) => (
              <option key={c.name} value={c.name}>
                {c.name}
                {c.init ? ' (init)' : ''}
              </option>
            ))}
          </select>
        </label>
        <div class="segmented" role="group" aria-label="Which container instance">
          <button type="button" aria-pressed={!isPrevious} onClick={() => setPrevious((p) => ({ ...p, [container]: false }))}>
            Current
          </button>
          <button type="button" aria-pressed={isPrevious} onClick={() => setPrevious((p) => ({ ...p, [container]: true }))}>
            Previous
          </button>
        </div>
        <button type="button" class="button small ghost" onClick={reload} aria-label="Refresh logs">
          Refresh
        </button>
      </div>
      {logs.state === 'loading' ? (
        <Spinner />
      ) : logs.state === 'ok' ? (
        logs.value.lines.length === 0 ? (
          <p class="muted">No log lines.</p>
        ) : (
          <pre class="code log" data-testid="log-lines">
            {logs.value.lines.join('\n')}
          </pre>
        )
      ) : (
        <p class="muted" data-testid="log-message">
          {logs.message}
        </p>
      )}
    </div>
  );
}
