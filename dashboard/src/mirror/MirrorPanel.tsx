// The live mirror panel: phase, containers, events as they arrive, a countdown on the server's clock, the API's verdict, Extend and Delete.
import { useEffect, useState } from 'preact/hooks';
import { api, describeError, seg } from '../api/client';
import { jsonOf, openEventStream, type ConnectionState } from '../api/sse';
import type { Deleted, EventView, MirrorEvents, MirrorStatus } from '../api/types';
import { canDeploy, useMe } from '../auth/user';
import { Containers, Events } from '../pods/PodDetails';
import { Chip, ConnectionDot, ErrorText, Spinner } from '../ui/bits';
import { noteSkew, serverSkew, useTick } from '../ui/clock';
import { clockSkew, formatCountdown, parseTime, remainingSeconds } from '../ui/time';

/** Server − browser clock from a status: its `now`, else derived from remaining_seconds. */
export function statusSkew(status: MirrorStatus, receivedAt: number): number {
  const fromNow = clockSkew(status.now, receivedAt);
  if (fromNow !== null) return fromNow;
  const expires = parseTime(status.expires_at);
  if (expires === null) return 0;
  return expires - status.remaining_seconds * 1000 - receivedAt;
}

/** "settling 12/30 s" while the mirror is ready but not yet Healthy; null otherwise. */
export function settling(status: MirrorStatus): { done: number; of: number } | null {
  if (status.verdict !== 'Pending' || !status.ready) return null;
  const match = /(\d+)\s*s\s+of\s+(\d+)\s*s/.exec(status.verdict_detail ?? '');
  const of = match ? Number(match[2]) : (status.settle_seconds ?? 30);
  const done = match ? Number(match[1]) : 0;
  return { done: Math.min(done, of), of };
}

export function MirrorPanel({ id }: { id: string }) {
  const me = useMe();
  const [status, setStatus] = useState<MirrorStatus | null>(null);
  const [events, setEvents] = useState<EventView[] | null>(null);
  const [deleted, setDeleted] = useState(false);
  const [gone, setGone] = useState<string | null>(null);
  const [conn, setConn] = useState<ConnectionState>('connecting');
  const [busy, setBusy] = useState<'extend' | 'delete' | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const now = useTick();

  function take(next: MirrorStatus) {
    const at = Date.now();
    setStatus(next);
    noteSkew(statusSkew(next, at));
  }

  useEffect(
    () =>
      openEventStream(`/api/mirror/status/${seg(id)}/events`, {
        onMessage(message) {
          if (message.event === 'status') {
            const next = jsonOf<MirrorStatus>(message);
            if (next) take(next);
          } else if (message.event === 'events') {
            const list = jsonOf<MirrorEvents>(message);
            if (list) setEvents(list.events ?? []);
          } else if (message.event === 'deleted') {
            setDeleted(true);
            return 'stop';
          }
        },
        onState: setConn,
        onFatal: (error) => setGone(error.status === 404 ? 'This mirror no longer exists.' : error.message),
      }),
    [id],
  );

  async function extend() {
    setBusy('extend');
    setActionError(null);
    try {
      take(await api.post<MirrorStatus>(`/api/mirror/${seg(id)}/extend`, { by_seconds: 300 }));
    } catch (error) {
      setActionError(describeError(error));
    } finally {
      setBusy(null);
    }
  }

  async function remove() {
    setBusy('delete');
    setActionError(null);
    try {
      await api.del<Deleted>(`/api/mirror/${seg(id)}`);
      setDeleted(true);
    } catch (error) {
      setActionError(describeError(error));
    } finally {
      setBusy(null);
    }
  }

  if (gone && !status) return <ErrorText>{gone}</ErrorText>;
  if (!status) return <Spinner label="Connecting to the mirror…" />;

  const remaining = deleted ? 0 : remainingSeconds(status.expires_at, serverSkew(), now, status.ttl_seconds);
  const shownEvents = events ?? status.recent_events ?? [];
  const ended = deleted || gone !== null;

  return (
    <div class="mirror" data-testid="mirror" data-verdict={status.verdict}>
      <div class="mirror-head">
        <div>
          <div class="muted small">Source</div>
          <div>{status.source}</div>
        </div>
        <div>
          <div class="muted small">Namespace</div>
          <div>{status.namespace}</div>
        </div>
        <div>
          <div class="muted small">Phase</div>
          <div data-testid="mirror-phase">{status.deleting || deleted ? 'Deleting' : status.phase}</div>
        </div>
        <div>
          <div class="muted small">Expires in</div>
          <div class="countdown" data-testid="countdown" aria-live="off">
            {ended ? (deleted ? 'deleted' : '—') : formatCountdown(remaining)}
          </div>
        </div>
        <div>
          <div class="muted small">Created by</div>
          <div>{status.created_by}</div>
        </div>
        {!ended ? <ConnectionDot state={conn} what="Mirror status stream" /> : null}
      </div>
      {status.scaled_down ? (
        <p class="note">
          The source <strong>{status.scaled_down}</strong> is scaled to 0 while this mirror runs; it comes back when the mirror is deleted.
        </p>
      ) : null}

      <Verdict status={status} />

      {deleted ? (
        <p class="note" role="status" data-testid="mirror-deleted">
          This mirror was deleted.
        </p>
      ) : gone ? (
        <ErrorText>{gone}</ErrorText>
      ) : null}

      <h3>Containers</h3>
      {status.containers && status.containers.length > 0 ? (
        <Containers containers={status.containers} testId="mirror-containers" />
      ) : (
        <p class="muted">
          {status.ready ? 'ready' : 'not ready'} · {status.restarts} restarts
        </p>
      )}

      <h3>Events</h3>
      <Events events={shownEvents} />

      {canDeploy(me) && !ended ? (
        <div class="actions">
          <button type="button" class="button" onClick={extend} disabled={busy !== null || status.deleting}>
            {busy === 'extend' ? 'Extending…' : 'Extend +5 min'}
          </button>
          <button type="button" class="button danger" onClick={remove} disabled={busy !== null || status.deleting}>
            {busy === 'delete' ? 'Deleting…' : 'Delete now'}
          </button>
        </div>
      ) : null}
      {actionError ? <ErrorText>{actionError}</ErrorText> : null}
    </div>
  );
}

/** The verdict as the API gives it: Healthy or Failing only when it says so; never "works" from Running alone. */
function Verdict({ status }: { status: MirrorStatus }) {
  if (status.verdict === 'Healthy') {
    return (
      <div class="verdict verdict-good" data-testid="verdict" role="status">
        <strong>Healthy</strong>
        <span>{status.verdict_detail}</span>
      </div>
    );
  }
  if (status.verdict === 'Failing') {
    const f = status.failure;
    return (
      <div class="verdict verdict-bad" data-testid="verdict" role="status">
        <strong>Failing</strong>
        <span>{status.verdict_detail}</span>
        {f ? (
          <div class="failure">
            <div>
              Container <strong>{f.container}</strong>: {f.reason}
              {f.exit_code !== null && f.exit_code !== undefined ? `, exit code ${f.exit_code}` : ''}
            </div>
            {f.message ? <div class="muted">{f.message}</div> : null}
            {f.last_logs && f.last_logs.length > 0 ? <pre class="code log">{f.last_logs.join('\n')}</pre> : null}
          </div>
        ) : null}
      </div>
    );
  }
  const settle = settling(status);
  return (
    <div class="verdict verdict-pending" data-testid="verdict" role="status">
      <strong>Pending</strong>
      {settle ? (
        <span data-testid="settling">
          settling {settle.done}/{settle.of} s
          <progress max={settle.of} value={settle.done} aria-label="Settle time" />
        </span>
      ) : (
        <span>{status.verdict_detail}</span>
      )}
      <Chip tone="muted">no verdict yet</Chip>
    </div>
  );
}
