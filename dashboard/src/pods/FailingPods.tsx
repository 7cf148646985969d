// The Failing pods tab: namespace filter, search (/), j/k selection, Enter to expand; windowed (only rows near the viewport are in the DOM) and a live change re-renders only its row, so 1,000 pods stay smooth.
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ConnectionState } from '../api/sse';
import { ErrorText, Spinner } from '../ui/bits';
import { addKeyHandler, dialogOpen } from '../ui/keys';
import { usePageWindow } from '../ui/windowed';
import { PodRow } from './PodRow';
import { filterPods, namespacesOf, sortPods, type PodMap } from './store';

export interface FailingPodsProps {
  pods: PodMap;
  loaded: boolean;
  conn: ConnectionState;
  error: string | null;
  /** Whether its tab shows (it stays mounted behind the others; its keys sleep then). */
  active: boolean;
}

export function FailingPods({ pods, loaded, conn, error, active }: FailingPodsProps) {
  const [namespace, setNamespace] = useState('');
  const [query, setQuery] = useState('');
  const [selected, setSelected] = useState<string | null>(null);
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const searchRef = useRef<HTMLInputElement>(null);
  const listRef = useRef<HTMLOListElement>(null);

  const sorted = useMemo(() => sortPods(pods), [pods]);
  const namespaces = useMemo(() => namespacesOf(sorted), [sorted]);
  const shown = useMemo(() => filterPods(sorted, { namespace, query }), [sorted, namespace, query]);
  const keys = useMemo(() => shown.map((p) => p.pod_id), [shown]);
  const { range, reveal } = usePageWindow(keys, listRef, active);

  // Back on the tab, the page is where it was (the scroll position is noted while the tab shows).
  const lastScroll = useRef(0);
  useEffect(() => {
    if (!active) return undefined;
    const note = () => {
      // not the scroll the page makes as the tab hides
      if (!listRef.current?.closest('[hidden]')) lastScroll.current = window.scrollY;
    };
    window.addEventListener('scroll', note, { passive: true });
    return () => window.removeEventListener('scroll', note);
  }, [active]);
  useLayoutEffect(() => {
    if (active) window.scrollTo({ top: lastScroll.current });
  }, [active]);

  const toggle = useCallback((id: string) => {
    setSelected(id);
    setExpanded((prev) => {
      const next = new Set(prev);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  }, []);

  const select = useCallback((id: string) => setSelected(id), []);

  // The row the keys asked to focus: focused after whichever render brings it into the window
  // (under load that may be several frames after the key), then forgotten.
  const wantFocus = useRef<string | null>(null);
  const focusWanted = useCallback(() => {
    const id = wantFocus.current;
    if (id === null) return;
    const button = listRef.current?.querySelector<HTMLElement>(`[data-toggle-for="${CSS.escape(id)}"]`);
    if (!button) return;
    wantFocus.current = null;
    button.focus({ preventScroll: true });
    button.scrollIntoView({ block: 'nearest' });
  }, []);
  const focusRow = useCallback(
    (id: string) => {
      wantFocus.current = id;
      // At once when the row is there, so the next key already reaches it (not the search box);
      // otherwise the list holds the focus until the row renders.
      focusWanted();
      if (wantFocus.current !== null) {
        listRef.current?.focus({ preventScroll: true });
        requestAnimationFrame(focusWanted);
      }
    },
    [focusWanted],
  );
  useEffect(focusWanted);

  // Keys: the latest list and selection, read through a ref so the handler is registered once.
  const state = useRef({ shown, selected, expanded, active, reveal });
  state.current = { shown, selected, expanded, active, reveal };

  useEffect(
    () =>
      addKeyHandler((event) => {
        if (dialogOpen() || !state.current.active) return false;
        const { shown: list, selected: sel, expanded: open, reveal: show } = state.current;
        switch (event.key) {
          case '/':
            searchRef.current?.focus();
            searchRef.current?.select();
            return true;
          case 'j':
          case 'k': {
            if (list.length === 0) return true;
            const at = sel ? list.findIndex((p) => p.pod_id === sel) : -1;
            const next = event.key === 'j' ? Math.min(list.length - 1, at + 1) : at < 0 ? 0 : Math.max(0, at - 1);
            const id = list[next]!.pod_id;
            setSelected(id);
            show(next);
            focusRow(id);
            return true;
          }
          case 'Enter': {
            if (!sel) return false;
            const active = document.activeElement;
            const onRowToggle = active instanceof HTMLElement && active.dataset.toggleFor === sel;
            if (active && active !== document.body && !onRowToggle) return false;
            toggle(sel);
            return true;
          }
          case 'Escape': {
            if (open.size === 0) return false;
            if (sel && open.has(sel)) toggle(sel);
            else setExpanded(new Set());
            if (sel) focusRow(sel);
            return true;
          }
          default:
            return false;
        }
      }),
    [toggle, focusRow],
  );

  // Expansions are kept when a pod leaves the list: a crash-looping pod is
  // Ready for moments between restarts, and its details stay open through them.

  return (
    <section class="pods" aria-label="Failing pods">
      <div class="toolbar">
        <input
          ref={searchRef}
          type="search"
          class="search"
          aria-label="Search pods"
          placeholder="Search pods, reasons, owners   ( / )"
          value={query}
          onInput={(e) => setQuery((e.target as HTMLInputElement).value)}
          onKeyDown={(e) => {
            if (e.key === 'Escape' && query) {
              e.stopPropagation();
              setQuery('');
            } else if (e.key === 'Enter' || e.key === 'ArrowDown') {
              // from the search box straight into the list
              const first = state.current.shown[0];
              if (first) {
                e.preventDefault();
                setSelected(first.pod_id);
                state.current.reveal(0);
                focusRow(first.pod_id);
              }
            }
          }}
        />
        <select aria-label="Namespace" value={namespace} onChange={(e) => setNamespace((e.target as HTMLSelectElement).value)}>
          <option value="">All namespaces</option>
          {namespaces.map((ns) => (
            <option key={ns} value={ns}>
              {ns}
            </option>
          ))}
        </select>
        <span class="muted count" data-testid="pod-count" aria-live="polite">
          {loaded ? (shown.length === sorted.length ? `${sorted.length} failing` : `${shown.length} of ${sorted.length} failing`) : ''}
        </span>
      </div>
      {error ? <ErrorText>{error}</ErrorText> : null}
      {!loaded ? (
        <p class="empty">{conn === 'down' ? 'The server cannot be reached; retrying…' : <Spinner label="Loading failing pods…" />}</p>
      ) : sorted.length === 0 ? (
        <p class="empty" data-testid="pods-empty">
          No failing pods right now.
        </p>
      ) : shown.length === 0 ? (
        <p class="empty">No failing pod matches the filter.</p>
      ) : (
        <div class="pod-table">
          <div class="pod-line pod-head" aria-hidden="true">
            <span>Pod</span>
            <span>Namespace</span>
            <span>Status</span>
            <span>Ready</span>
            <span>Restarts</span>
            <span>Age</span>
            <span>Diagnosis</span>
            <span>Mirror</span>
          </div>
          <ol class="pod-list" ref={listRef} tabIndex={-1} aria-label="Failing pods list" data-testid="pod-list">
            {range.before > 0 ? <li class="pod-spacer" aria-hidden="true" style={{ height: `${range.before}px` }} /> : null}
            {shown.slice(range.start, range.end).map((pod) => (
              <PodRow key={pod.pod_id} pod={pod} selected={pod.pod_id === selected} expanded={expanded.has(pod.pod_id)} onToggle={toggle} onSelect={select} />
            ))}
            {range.after > 0 ? <li class="pod-spacer" aria-hidden="true" style={{ height: `${range.after}px` }} /> : null}
          </ol>
        </div>
      )}
    </section>
  );
}
