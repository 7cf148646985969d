// The one ticking clock of the page: every countdown and "ago" text updates from it, with the server's clock skew.
import { useEffect, useLayoutEffect, useReducer, useRef } from 'preact/hooks';
import { clockSkew, SkewEstimate } from './time';

type Listener = (localNowMs: number) => void;

const listeners = new Set<Listener>();
let timer: ReturnType<typeof setTimeout> | null = null;
const skew = new SkewEstimate();
let skewMs = 0;

/** Server time − browser time, from the messages that carried the server's `now` (see SkewEstimate). */
export function serverSkew(): number {
  return skewMs;
}

/** Records the server's clock from a message's `now`. */
export function noteServerNow(now: string | null | undefined): void {
  const at = Date.now();
  const s = clockSkew(now, at);
  if (s !== null) skewMs = skew.add(s, at);
}

/** Records a skew found another way (a status's remaining seconds). */
export function noteSkew(s: number): void {
  skewMs = skew.add(s, Date.now());
}

function schedule(): void {
  // Tick just after each whole second so all texts change together.
  const delay = 1000 - (Date.now() % 1000) + 5;
  timer = setTimeout(() => {
    const now = Date.now();
    for (const listener of [...listeners]) listener(now);
    if (listeners.size > 0) schedule();
    else timer = null;
  }, delay);
}

export function subscribeTick(listener: Listener): () => void {
  listeners.add(listener);
  if (timer === null) schedule();
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
  };
}

/** Re-renders the component every second; returns the browser's now (ms). */
export function useTick(): number {
  const [, bump] = useReducer((n: number) => n + 1, 0);
  useEffect(() => subscribeTick(() => bump(undefined)), []);
  return Date.now();
}

/**
 * A text that changes with the clock without re-rendering anything: the
 * shared tick writes the span's text directly (and only when it changed), so
 * a thousand rows cost one timer and no virtual-DOM work per second.
 */
export function Ticking({ text, class: className, testId }: { text: (localNowMs: number) => string; class?: string; testId?: string }) {
  const ref = useRef<HTMLSpanElement>(null);
  const render = useRef(text);
  render.current = text;
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const value = render.current(Date.now());
    if (el.textContent !== value) el.textContent = value;
  });
  useEffect(
    () =>
      subscribeTick((now) => {
        const el = ref.current;
        if (!el) return;
        const value = render.current(now);
        if (el.textContent !== value) el.textContent = value;
      }),
    [],
  );
  return <span ref={ref} class={className} data-testid={testId} />;
}
