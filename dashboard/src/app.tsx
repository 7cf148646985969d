// The app: sign-in gate, then the shell (header, tabs, the failing-pods stream, the one open dialog).
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, describeError, onUnauthorized } from './api/client';
import { jsonOf, openEventStream, type ConnectionState } from './api/sse';
import type { FailingSnapshot, FailingUpdate, Me } from './api/types';
import { SignIn } from './auth/SignIn';
import { clearToken, getToken, setToken, takeTokenFromUrl } from './auth/session';
import { canAudit, canChangeSettings, UserContext } from './auth/user';
import { AuditTab } from './audit/AuditTab';
import { ApplyFixDialog } from './fix/ApplyFixDialog';
import { MirrorPanel } from './mirror/MirrorPanel';
import { ActiveMirrors } from './mirrors/ActiveMirrors';
import { FailingPods } from './pods/FailingPods';
import { applyUpdate, fromSnapshot, type PodMap } from './pods/store';
import { SettingsTab } from './settings/SettingsTab';
import { ConnectionDot, lazyComponent, Spinner } from './ui/bits';
import { noteServerNow } from './ui/clock';
import { Dialog } from './ui/Dialog';
import { addKeyHandler, dialogOpen, SHORTCUTS } from './ui/keys';
import { parseRoute, routeHash, ShellContext, type DialogRequest, type Route, type Shell as ShellApi, type Tab } from './ui/shell';
import { currentTheme, toggleTheme, type Theme } from './ui/theme';

// The Test Fix dialog brings CodeMirror and the YAML parser: loaded the first time it opens.
const TestFixBody = lazyComponent(() => import('./mirror/TestFixDialog').then((m) => m.TestFixBody));

type Auth = { kind: 'checking' } | { kind: 'signedOut'; message: string | null; busy: boolean } | { kind: 'signedIn'; me: Me };

export function App() {
  const [auth, setAuth] = useState<Auth>({ kind: 'checking' });

  const signIn = useCallback(async (token: string) => {
    setAuth((a) => (a.kind === 'signedOut' ? { ...a, busy: true } : a));
    try {
      const me = await api.get<Me>('/api/auth/me', { token });
      setToken(token);
      setAuth({ kind: 'signedIn', me });
    } catch (error) {
      clearToken();
      const message = error instanceof ApiError && error.status === 404 ? 'This server has no sign-in endpoint (/api/auth/me).' : describeError(error);
      setAuth({ kind: 'signedOut', message, busy: false });
    }
  }, []);

  useEffect(() => {
    onUnauthorized((message) => {
      clearToken();
      setAuth({ kind: 'signedOut', message, busy: false });
    });
    const fromLink = takeTokenFromUrl(window.location, window.history);
    const token = fromLink ?? getToken();
    if (token) void signIn(token);
    else setAuth({ kind: 'signedOut', message: null, busy: false });
  }, [signIn]);

  if (auth.kind === 'checking') {
    return (
      <main class="signin">
        <Spinner label="Signing in…" />
      </main>
    );
  }
  if (auth.kind === 'signedOut') return <SignIn message={auth.message} busy={auth.busy} onSubmit={signIn} />;
  return (
    <UserContext.Provider value={auth.me}>
      <Shell
        me={auth.me}
        onSignOut={() => {
          clearToken();
          setAuth({ kind: 'signedOut', message: null, busy: false });
        }}
      />
    </UserContext.Provider>
  );
}

function useRoute(me: Me): [Route, (r: Route) => void] {
  const allowed = useCallback(
    (r: Route): Route => {
      if (r.tab === 'audit' && !canAudit(me)) return { tab: 'pods', seq: null };
      if (r.tab === 'admin' && !canChangeSettings(me)) return { tab: 'pods', seq: null };
      return r;
    },
    [me],
  );
  const [route, setRoute] = useState<Route>(() => allowed(parseRoute(window.location.hash)));
  useEffect(() => {
    const onHash = () => setRoute(allowed(parseRoute(window.location.hash)));
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [allowed]);
  const navigate = useCallback(
    (r: Route) => {
      const next = allowed(r);
      const hash = routeHash(next);
      if (window.location.hash !== hash) window.history.pushState(null, '', hash);
      setRoute(next);
    },
    [allowed],
  );
  return [route, navigate];
}

function Shell({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const [route, navigate] = useRoute(me);
  const [pods, setPods] = useState<PodMap>(() => new Map());
  const [loaded, setLoaded] = useState(false);
  const [conn, setConn] = useState<ConnectionState>('connecting');
  const [streamError, setStreamError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<DialogRequest | null>(null);
  const [theme, setThemeState] = useState<Theme>(currentTheme);
  const opener = useRef<HTMLElement | null>(null);

  // The failing pods, live: a snapshot on every (re)connection replaces the list.
  useEffect(
    () =>
      openEventStream('/api/pods/failing/events', {
        onMessage(message) {
          if (message.event === 'snapshot') {
            const snapshot = jsonOf<FailingSnapshot>(message);
            if (!snapshot) return;
            noteServerNow(snapshot.now);
            setPods(fromSnapshot(snapshot.pods ?? []));
            setLoaded(true);
            setStreamError(null);
          } else if (message.event === 'update') {
            const update = jsonOf<FailingUpdate>(message);
            if (!update) return;
            noteServerNow(update.now);
            setPods((prev) => applyUpdate(prev, update.upsert ?? [], update.remove ?? []));
          }
        },
        onState: setConn,
        onFatal: (error) => setStreamError(error.message),
      }),
    [],
  );

  const shell = useMemo<ShellApi>(
    () => ({
      openDialog(request) {
        setDialog((current) => {
          if (!current) opener.current = document.activeElement as HTMLElement | null;
          return request;
        });
      },
      closeDialog() {
        setDialog(null);
        const back = opener.current;
        opener.current = null;
        // After the dialog is gone, focus returns to what opened it.
        setTimeout(() => {
          if (back && back.isConnected) back.focus();
        }, 0);
      },
      navigate,
    }),
    [navigate],
  );

  useEffect(
    () =>
      addKeyHandler((event) => {
        if (event.key === '?' && !dialogOpen()) {
          shell.openDialog({ kind: 'help' });
          return true;
        }
        return false;
      }),
    [shell],
  );

  useEffect(() => {
    const onTheme = () => setThemeState(currentTheme());
    // The system's choice can change while the page is open (an evening switch).
    const system = window.matchMedia?.('(prefers-color-scheme: dark)');
    window.addEventListener('podmirror-theme', onTheme);
    system?.addEventListener('change', onTheme);
    return () => {
      window.removeEventListener('podmirror-theme', onTheme);
      system?.removeEventListener('change', onTheme);
    };
  }, []);

  const tabs: Array<{ id: Tab; label: string; badge?: number }> = [
    { id: 'pods', label: 'Failing pods', badge: loaded ? pods.size : undefined },
    { id: 'mirrors', label: 'Active mirrors' },
  ];
  if (canAudit(me)) tabs.push({ id: 'audit', label: 'Audit' });
  if (canChangeSettings(me)) tabs.push({ id: 'admin', label: 'Admin' });

  return (
    <ShellContext.Provider value={shell}>
      <div class="shell" inert={dialog !== null}>
        <header class="top">
          <div class="brand">
            <span class="logo" aria-hidden="true" />
            <span class="brand-name">podmirror</span>
            <span class="cluster" title="Cluster" data-testid="cluster">
              {me.cluster}
            </span>
          </div>
          <ConnectionDot state={conn} what="Failing pods stream" />
          <div class="who" data-testid="user" title={me.expiresAt ? `Token expires ${new Date(me.expiresAt).toLocaleString()}` : 'Token does not expire'}>
            <span class="who-name">{me.name}</span>
            <span class={`chip role-${me.role}`}>{me.role}</span>
            <span class="who-org">{me.org}</span>
          </div>
          <div class="top-actions">
            <button type="button" class="icon-button" onClick={() => toggleTheme()} aria-label={theme === 'dark' ? 'Switch to light theme' : 'Switch to dark theme'} title="Theme">
              {theme === 'dark' ? '☀' : '☾'}
            </button>
            <button type="button" class="icon-button" onClick={() => shell.openDialog({ kind: 'help' })} aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">
              ?
            </button>
            <button type="button" class="button" onClick={onSignOut}>
              Sign out
            </button>
          </div>
        </header>
        <nav class="tabs" role="tablist" aria-label="Sections">
          {tabs.map((t) => (
            <button
              key={t.id}
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              aria-selected={route.tab === t.id}
              aria-controls={`panel-${t.id}`}
              class="tab"
              onClick={() => navigate({ tab: t.id, seq: null })}
            >
              {t.label}
              {t.badge !== undefined ? <span class="tab-badge">{t.badge}</span> : null}
            </button>
          ))}
        </nav>
        {/* The failing pods stay mounted: back on the tab, the search, the open rows and the place in the list are as they were. */}
        <div class="panel" id="panel-pods" role="tabpanel" aria-labelledby="tab-pods" hidden={route.tab !== 'pods'}>
          <FailingPods pods={pods} loaded={loaded} conn={conn} error={streamError} active={route.tab === 'pods'} />
        </div>
        {route.tab !== 'pods' ? (
          <div class="panel" id={`panel-${route.tab}`} role="tabpanel" aria-labelledby={`tab-${route.tab}`}>
            {route.tab === 'mirrors' ? <ActiveMirrors /> : null}
            {route.tab === 'audit' ? <AuditTab highlight={route.seq} /> : null}
            {route.tab === 'admin' ? <SettingsTab /> : null}
          </div>
        ) : null}
      </div>
      {dialog ? <DialogHost request={dialog} shell={shell} /> : null}
    </ShellContext.Provider>
  );
}

function DialogHost({ request, shell }: { request: DialogRequest; shell: ShellApi }) {
  switch (request.kind) {
    case 'testfix':
      return (
        <Dialog title={`${request.readOnly ? 'Preview fix' : 'Test fix'}: ${request.pod.pod}`} onClose={shell.closeDialog} size="wide" testId="testfix-dialog">
          <TestFixBody
            pod={request.pod}
            diagnosis={request.diagnosis}
            candidate={request.candidate}
            readOnly={request.readOnly}
            onCancel={shell.closeDialog}
            onDeployed={(id: string) => shell.openDialog({ kind: 'mirror', id })}
          />
        </Dialog>
      );
    case 'mirror':
      return (
        <Dialog title={`Mirror ${request.id}`} onClose={shell.closeDialog} size="wide" testId="mirror-panel">
          <MirrorPanel id={request.id} />
        </Dialog>
      );
    case 'apply':
      return (
        <Dialog title={`Apply fix: ${request.diagnosis.owner ? `${request.diagnosis.owner.kind}/${request.diagnosis.owner.name}` : request.pod.pod}`} onClose={shell.closeDialog} size="wide" testId="apply-dialog">
          <ApplyFixDialog pod={request.pod} diagnosis={request.diagnosis} onDone={shell.closeDialog} />
        </Dialog>
      );
    case 'help':
      return (
        <Dialog title="Keyboard shortcuts" onClose={shell.closeDialog} size="small" testId="help">
          <dl class="keys">
            {SHORTCUTS.map(([key, what]) => (
              <div key={key} class="keys-row">
                <dt>
                  <kbd>{key}</kbd>
                </dt>
                <dd>{what}</dd>
              </div>
            ))}
          </dl>
          <p class="muted small">Shortcuts wait while you type in a field or the manifest editor.</p>
        </Dialog>
      );
  }
}
