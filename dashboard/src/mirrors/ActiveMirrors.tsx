// The Active mirrors tab: `podmirror status` live (target, namespace, mirror pod, scale-down, phase, expires in).
import { useEffect, useState } from 'preact/hooks';
import { jsonOf, openEventStream, type ConnectionState } from '../api/sse';
import type { ActiveMirrors as ActiveMirrorsEvent, MirrorStatus } from '../api/types';
import { ConnectionDot, ErrorText, Spinner } from '../ui/bits';
import { useTick } from '../ui/clock';
import { useShell } from '../ui/shell';
import { clockSkew, formatCountdown, remainingSeconds } from '../ui/time';

export function ActiveMirrors() {
  const shell = useShell();
  const [mirrors, setMirrors] = useState<MirrorStatus[] | null>(null);
  const [skew, setSkew] = useState(0);
  const [conn, setConn] = useState<ConnectionState>('connecting');
  const [error, setError] = useState<string | null>(null);
  const now = useTick();

  useEffect(
    () =>
      openEventStream('/api/mirror/active/events', {
        onMessage(message) {
          if (message.event !== 'mirrors') return;
          const body = jsonOf<ActiveMirrorsEvent>(message);
          if (!body) return;
          // No per-second messages here: count down locally from the server's clock offset.
          const s = clockSkew(body.now, Date.now());
          if (s !== null) setSkew(s);
          setMirrors(body.mirrors ?? []);
          setError(null);
        },
        onState: setConn,
        onFatal: (e) => setError(e.message),
      }),
    [],
  );

  return (
    <section aria-label="Active mirrors">
      <div class="toolbar">
        <h2 class="panel-title">Active mirrors</h2>
        <ConnectionDot state={conn} what="Active mirrors stream" />
      </div>
      {error ? <ErrorText>{error}</ErrorText> : null}
      {mirrors === null ? (
        <Spinner label="Loading mirrors…" />
      ) : mirrors.length === 0 ? (
        <p class="empty" data-testid="mirrors-empty">
          No active mirrors.
        </p>
      ) : (
        <table class="table responsive" data-testid="mirrors-table">
          <thead>
            <tr>
              <th>Original target</th>
              <th>Namespace</th>
              <th>Mirror pod</th>
              <th>Scale down?</th>
              <th>Phase</th>
              <th>Verdict</th>
              <th>Expires in</th>
            </tr>
          </thead>
          <tbody>
            {mirrors.map((m) => (
              <tr key={`${m.namespace}/${m.id}`} data-testid="mirror-row">
                <td data-label="Original target">{m.source}</td>
                <td data-label="Namespace">{m.namespace}</td>
                <td data-label="Mirror pod">
                  <button type="button" class="link" onClick={() => shell.openDialog({ kind: 'mirror', id: m.id })}>
                    {m.id}
                  </button>
                </td>
                <td data-label="Scale down?">{m.scaled_down ? <span title={`${m.scaled_down} is at 0 replicas`}>yes ({m.scaled_down})</span> : 'no'}</td>
                <td data-label="Phase">{m.deleting ? 'Deleting' : m.phase}</td>
                <td data-label="Verdict">
                  <span class={`chip ${m.verdict === 'Healthy' ? 'chip-good' : m.verdict === 'Failing' ? 'chip-bad' : 'chip-muted'}`}>{m.verdict}</span>
                </td>
                <td data-label="Expires in" class="num" data-testid="mirror-expires">
                  {formatCountdown(remainingSeconds(m.expires_at, skew, now))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
