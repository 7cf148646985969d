// Small shared pieces: chips, the copy button, the live-connection dot, messages, a spinner, on-demand components.
import type { ComponentChildren, ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ConnectionState } from '../api/sse';

export function Chip({ children, tone, title }: { children: ComponentChildren; tone?: 'bad' | 'warn' | 'good' | 'info' | 'muted'; title?: string }) {
  return (
    <span class={`chip ${tone ? `chip-${tone}` : ''}`} title={title}>
      {children}
    </span>
  );
}

/** Copies text to the clipboard; falls back to a hidden textarea where the Clipboard API is not allowed (plain HTTP). */
export async function copyText(text: string): Promise<boolean> {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the old way
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.style.position = 'fixed';
  area.style.opacity = '0';
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand('copy');
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'done' | 'failed'>('idle');
  useEffect(() => {
    if (state === 'idle') return;
    const t = setTimeout(() => setState('idle'), 1500);
    return () => clearTimeout(t);
  }, [state]);
  return (
    <button type="button" class="button small" onClick={async () => setState((await copyText(text)) ? 'done' : 'failed')} aria-label={label}>
      {state === 'done' ? 'Copied' : state === 'failed' ? 'Copy failed' : 'Copy'}
    </button>
  );
}

const DOT_TEXT: Record<ConnectionState, string> = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  down: 'Disconnected — retrying',
};

export function ConnectionDot({ state, what }: { state: ConnectionState; what: string }) {
  const tone = state === 'live' ? 'good' : state === 'down' ? 'bad' : 'warn';
  return (
    <span class={`conn conn-${tone}`} role="status" data-testid="connection" data-state={state} title={`${what}: ${DOT_TEXT[state]}`}>
      <span class="conn-dot" aria-hidden="true" />
      <span class="conn-text">{DOT_TEXT[state]}</span>
    </span>
  );
}

export function ErrorText({ children, testId }: { children: ComponentChildren; testId?: string }) {
  return (
    <p class="error-text" role="alert" data-testid={testId}>
      {children}
    </p>
  );
}

export function Spinner({ label = 'Loading…' }: { label?: string }) {
  return (
    <span class="spinner" role="status">
      <span class="spinner-ring" aria-hidden="true" />
      {label}
    </span>
  );
}

/** A component loaded on first use (its module and everything it imports come in a separate chunk). */
export function lazyComponent<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<ComponentType<P>> | null = null;
  return function Lazy(props: P) {
    const [Comp, setComp] = useState<ComponentType<P> | null>(() => loaded);
    const [error, setError] = useState<string | null>(null);
    useEffect(() => {
      if (Comp) return;
      pending ??= load().then((c) => (loaded = c));
      let live = true;
      pending.then(
        (c) => live && setComp(() => c),
        (e: unknown) => {
          pending = null;
          if (live) setError(e instanceof Error ? e.message : String(e));
        },
      );
      return () => {
        live = false;
      };
    }, []);
    if (error) return <ErrorText>Could not load this part of the page: {error}</ErrorText>;
    if (!Comp) return <Spinner />;
    return <Comp {...props} />;
  };
}
