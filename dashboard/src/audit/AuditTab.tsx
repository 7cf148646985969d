// The Audit tab (admin): the hash chain's verification up front, entries filtered by action, user and time, each with its command or patch, #seq highlighted.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, describeError } from '../api/client';
import type { AuditEntry, AuditVerify } from '../api/types';
import { ErrorText, Spinner } from '../ui/bits';
import { formatClock } from '../ui/time';

const PAGE = 500;
const MAX_PAGES = 20;
const ACTIONS = ['mirror.deploy', 'mirror.delete', 'mirror.extend', 'fix.apply', 'settings.mirror-ttl', 'diagnose'];

/** Reads the log from the start, page after page (the API pages by `after`). */
async function loadAll(action: string, who: string, signal: AbortSignal): Promise<{ entries: AuditEntry[]; truncated: boolean }> {
  const entries: AuditEntry[] = [];
  let after = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const batch = await api.get<AuditEntry[]>('/api/audit', { query: { after, limit: PAGE, action, who }, signal });
    entries.push(...batch);
    if (batch.length < PAGE) return { entries, truncated: false };
    after = batch[batch.length - 1]!.seq;
  }
  return { entries, truncated: true };
}

export function AuditTab({ highlight }: { highlight: number | null }) {
  const [action, setAction] = useState('');
  const [who, setWho] = useState('');
  const [whoApplied, setWhoApplied] = useState('');
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [verify, setVerify] = useState<AuditVerify | null>(null);
  const [verifyError, setVerifyError] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  const tableRef = useRef<HTMLTableElement>(null);

  useEffect(() => {
    const abort = new AbortController();
    api.get<AuditVerify>('/api/audit/verify', { signal: abort.signal }).then(
      (v) => setVerify(v),
      (e: unknown) => !abort.signal.aborted && setVerifyError(describeError(e)),
    );
    return () => abort.abort();
  }, [round]);

  useEffect(() => {
    const abort = new AbortController();
    setEntries(null);
    setError(null);
    loadAll(action, whoApplied, abort.signal).then(
      (r) => {
        setEntries(r.entries);
        setTruncated(r.truncated);
      },
      (e: unknown) => !abort.signal.aborted && setError(describeError(e)),
    );
    return () => abort.abort();
  }, [action, whoApplied, round]);

  useEffect(() => {
    if (highlight === null || !entries) return;
    const row = tableRef.current?.querySelector<HTMLElement>(`[data-seq="${highlight}"]`);
    if (row) {
      row.scrollIntoView({ block: 'center' });
      row.focus({ preventScroll: true });
    }
  }, [highlight, entries]);

  // Time is filtered here, on the loaded page of entries (local times, as typed).
  const from = since ? new Date(since).getTime() : -Infinity;
  const to = until ? new Date(until).getTime() : Infinity;
  const newestFirst = entries
    ? [...entries].reverse().filter((e) => {
        const at = new Date(e.at).getTime();
        return at >= from && at <= to;
      })
    : null;

  return (
    <section aria-label="Audit log">
      <div class="toolbar">
        <h2 class="panel-title">Audit log</h2>
        <button type="button" class="button small" onClick={() => setRound((r) => r + 1)}>
          Refresh
        </button>
      </div>
      {verify ? (
        verify.ok ? (
          <p class="chain chain-ok" data-testid="chain-status" role="status">
            ✔ chain verified: {verify.entries} entries
          </p>
        ) : (
          <p class="chain chain-broken" data-testid="chain-status" role="alert">
            ✖ BROKEN after {verify.entries} good entries: {verify.message ?? 'unknown reason'}
          </p>
        )
      ) : verifyError ? (
        <ErrorText testId="chain-status">Could not verify the chain: {verifyError}</ErrorText>
      ) : (
        <p class="chain" data-testid="chain-status">
          Verifying the chain…
        </p>
      )}
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setWhoApplied(who.trim());
        }}
      >
        <label class="inline">
          <span>Action</span>
          <select value={action} onChange={(e) => setAction((e.target as HTMLSelectElement).value)}>
            <option value="">All actions</option>
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label class="inline">
          <span>User</span>
          <input type="text" value={who} placeholder="any" onInput={(e) => setWho((e.target as HTMLInputElement).value)} onBlur={() => setWhoApplied(who.trim())} />
        </label>
        <label class="inline">
          <span>From</span>
          <input type="datetime-local" step={1} aria-label="From" value={since} onInput={(e) => setSince((e.target as HTMLInputElement).value)} />
        </label>
        <label class="inline">
          <span>To</span>
          <input type="datetime-local" step={1} aria-label="To" value={until} onInput={(e) => setUntil((e.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="button small">
          Filter
        </button>
      </form>
      {error ? <ErrorText>{error}</ErrorText> : null}
      {newestFirst === null ? (
        error ? null : <Spinner label="Loading the audit log…" />
      ) : newestFirst.length === 0 ? (
        <p class="empty">No entries.</p>
      ) : (
        <>
          {truncated ? <p class="muted small">Showing the first {entries!.length} entries.</p> : null}
          <table class="table responsive audit" ref={tableRef} data-testid="audit-table">
            <thead>
              <tr>
                <th>#</th>
                <th>When</th>
                <th>Who</th>
                <th>Action</th>
                <th>Target</th>
                <th>Outcome</th>
                <th>Request</th>
                <th>Command or patch</th>
              </tr>
            </thead>
            <tbody>
              {newestFirst.map((e) => (
                <tr key={e.seq} id={`audit-${e.seq}`} data-seq={e.seq} tabIndex={-1} class={e.seq === highlight ? 'highlight' : ''} aria-current={e.seq === highlight ? 'true' : undefined}>
                  <td data-label="#">{e.seq}</td>
                  <td data-label="When" title={e.at}>
                    {formatClock(e.at)}
                  </td>
                  <td data-label="Who">
                    {e.who} <span class="muted small">({e.role}, {e.org})</span>
                  </td>
                  <td data-label="Action">{e.action}</td>
                  <td data-label="Target" class="mono wrap">
                    {e.target}
                  </td>
                  <td data-label="Outcome" class={e.outcome.startsWith('ok') || e.outcome.startsWith('applied') ? '' : 'outcome-bad'}>
                    {e.outcome}
                  </td>
                  <td data-label="Request" class="mono small" title={`hash ${e.hash}\nprev ${e.prev_hash}\ndigest ${e.digest || '—'}`}>
                    {e.request_id}
                  </td>
                  <td data-label="Command or patch" class="small">
                    {e.detail ? (
                      <details data-testid="audit-detail">
                        <summary>{e.detail.length > 60 ? `${e.detail.slice(0, 60)}…` : e.detail}</summary>
                        <pre class="code wrap">{pretty(e.detail)}</pre>
                      </details>
                    ) : (
                      <span class="muted">—</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

/** A JSON patch indented; any other text as it is. */
function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}
