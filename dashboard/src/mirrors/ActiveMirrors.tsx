// The Active mirrors tab: `podmirror status` live (target, namespace, mirror pod, scale-down, phase, expires in, created by), with Extend and Delete for admins.
import { useEffect, useState } from 'preact/hooks';
import { jsonOf, openEventStream, type ConnectionState } from '../api/sse';
import type { ActiveMirrors as ActiveMirrorsEvent, MirrorStatus } from '../api/types';
import { api, describeError, seg } from '../api/client';
import { canDeploy, useMe } from '../auth/user';
import { ConnectionDot, ErrorText, Spinner } from '../ui/bits';
import { noteServerNow, serverSkew, useTick } from '../ui/clock';
import { useShell } from '../ui/shell';
import { formatCountdown, remainingSeconds } from '../ui/time';

export function ActiveMirrors() {
  const shell = useShell();
  const [mirrors, setMirrors] = useState<MirrorStatus[] | null>(null);
  const [conn, setConn] = useState<ConnectionState>('connecting');
  const [error, setError] = useState<string | null>(null);
  const now = useTick();
  const me = useMe();
  const admin = canDeploy(me);
  const [busy, setBusy] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);

  // The stream shows the result: an extended expiry, a row that goes.
  async function act(id: string, what: 'extend' | 'delete') {
    setBusy(`${what}:${id}`);
    setActionError(null);
    try {
      const path = `/api/mirror/${seg(id)}`;
      if (what === 'extend') await api.post(`${path}/extend`, { by_seconds: 300 });
      else await api.del(path);
    } catch (e) {
      setActionError(describeError(e));
    } finally {
      setBusy(null);
    }
  }

  useEffect(
    () =>
      openEventStream('/api/mirror/active/events', {
        onMessage(message) {
          if (message.event !== 'mirrors') return;
          const body = jsonOf<ActiveMirrorsEvent>(message);
          if (!body) return;
          // No per-second messages here: count down locally from the server's clock offset.
          noteServerNow(body.now);
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
      {actionError ? <ErrorText testId="mirrors-action-error">{actionError}</ErrorText> : null}
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
              <th>Created by</th>
              {admin ? <th>Actions</th> : null}
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
                  {formatCountdown(remainingSeconds(m.expires_at, serverSkew(), now, m.ttl_seconds))}
                </td>
                <td data-label="Created by">{m.created_by}</td>
                {admin ? (
                  <td data-label="Actions" class="row-actions">
                    <button type="button" class="button small" disabled={m.deleting || busy !== null} onClick={() => act(m.id, 'extend')} aria-label={`Extend ${m.id} by 5 minutes`}>
                      {busy === `extend:${m.id}` ? 'Extending…' : 'Extend +5 min'}
                    </button>
                    <button type="button" class="button small danger" disabled={m.deleting || busy !== null} onClick={() => act(m.id, 'delete')} aria-label={`Delete ${m.id}`}>
                      {busy === `delete:${m.id}` ? 'Deleting…' : 'Delete'}
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
