// Windowed rendering for a long list that scrolls with the page: only the rows near the viewport are in the DOM, with spacers for the rest; row heights are measured as rows render and estimated for the others.
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';

/** Rows rendered beyond each edge of the viewport, in pixels. */
export const OVERSCAN_PX = 900;
/** A row's height before any row was measured. */
const FIRST_GUESS_PX = 44;

/** Measured row heights by key; rows not yet measured get the mean of those that were. */
export class Heights {
  private known = new Map<string, number>();
  private total = 0;

  estimate(): number {
    return this.known.size > 0 ? this.total / this.known.size : FIRST_GUESS_PX;
  }

  get(key: string): number {
    return this.known.get(key) ?? this.estimate();
  }

  /** Records a height; whether it changed. */
  set(key: string, height: number): boolean {
    const old = this.known.get(key);
    if (old !== undefined && Math.abs(old - height) < 0.5) return false;
    this.total += height - (old ?? 0);
    this.known.set(key, height);
    return true;
  }

  /** Drops the keys no longer listed, so the estimate follows the rows there are. */
  keepOnly(keys: ReadonlySet<string>): void {
    for (const [key, h] of this.known) {
      if (!keys.has(key)) {
        this.known.delete(key);
        this.total -= h;
      }
    }
  }
}

/** Which rows to render and the space the others take. */
export interface Range {
  start: number;
  end: number;
  before: number;
  after: number;
}

/** The rows `[start, end)` that meet `[top, bottom]` (pixels from the list's top) widened by `overscan`, and the heights of the rows around them. */
export function rangeOf(keys: readonly string[], heights: Heights, top: number, bottom: number, overscan = OVERSCAN_PX): Range {
  const from = top - overscan;
  const to = bottom + overscan;
  let y = 0;
  let start = keys.length;
  let before = 0;
  for (let i = 0; i < keys.length; i++) {
    const h = heights.get(keys[i]!);
    if (y + h > from) {
      start = i;
      before = y;
      break;
    }
    y += h;
  }
  let end = start;
  while (end < keys.length && y < to) {
    y += heights.get(keys[end]!);
    end++;
  }
  let after = 0;
  for (let i = end; i < keys.length; i++) after += heights.get(keys[i]!);
  if (start === keys.length) before = y;
  return { start, end, before, after };
}

/** Pixels from the list's top to row `index`. */
export function offsetOf(keys: readonly string[], heights: Heights, index: number): number {
  let y = 0;
  for (let i = 0; i < index && i < keys.length; i++) y += heights.get(keys[i]!);
  return y;
}

/**
 * The window of `keys` to render inside the element `listRef` points at, which scrolls with the page.
 * Each rendered row carries its key in `data-window-key` (its height is measured from there);
 * `reveal(index)` scrolls so a row not rendered yet is, before focusing it. The row at the top of the
 * view stays where it is on screen when rows are added or removed above it or change height (the
 * list's own scroll anchoring; the browser's is turned off for it in the stylesheet). Inactive (a
 * hidden tab), nothing is recomputed.
 */
export function usePageWindow(keys: readonly string[], listRef: { current: HTMLElement | null }, active: boolean) {
  const heights = useRef(new Heights()).current;
  const [view, setView] = useState(() => ({ top: 0, bottom: typeof window === 'undefined' ? 800 : window.innerHeight }));
  const [, setMeasured] = useState(0);
  const frame = useRef(0);
  const keysRef = useRef(keys);
  keysRef.current = keys;
  // The row at the top of the view, how far into it the view starts (pixels), and the page's scroll then.
  const anchor = useRef<{ key: string; into: number; scrollY: number } | null>(null);

  const readView = useCallback(() => {
    frame.current = 0;
    const list = listRef.current;
    if (!list) return;
    const top = -list.getBoundingClientRect().top;
    const list_ = keysRef.current;
    anchor.current = null;
    if (top > 0) {
      let y = 0;
      for (let i = 0; i < list_.length; i++) {
        const h = heights.get(list_[i]!);
        if (y + h > top) {
          anchor.current = { key: list_[i]!, into: top - y, scrollY: window.scrollY };
          break;
        }
        y += h;
      }
    }
    const next = { top, bottom: top + window.innerHeight };
    // Re-render only when the view moved by a noticeable amount.
    setView((v) => (Math.abs(v.top - next.top) < 40 && Math.abs(v.bottom - next.bottom) < 40 ? v : next));
  }, [listRef, heights]);

  useEffect(() => {
    if (!active) return undefined;
    const schedule = () => {
      if (!frame.current) frame.current = requestAnimationFrame(readView);
    };
    readView();
    window.addEventListener('scroll', schedule, { passive: true });
    window.addEventListener('resize', schedule);
    return () => {
      window.removeEventListener('scroll', schedule);
      window.removeEventListener('resize', schedule);
      if (frame.current) cancelAnimationFrame(frame.current);
      frame.current = 0;
    };
  }, [active, readView]);

  // Measured heights: a row that renders or changes size updates the spacers.
  const observer = useRef<ResizeObserver | null>(null);
  useEffect(() => {
    if (typeof ResizeObserver === 'undefined') return undefined;
    observer.current = new ResizeObserver((entries) => {
      let changed = false;
      for (const entry of entries) {
        const key = (entry.target as HTMLElement).dataset.windowKey;
        const height = (entry.target as HTMLElement).offsetHeight;
        if (key && height > 0 && heights.set(key, height)) changed = true;
      }
      if (changed) setMeasured((n) => n + 1);
    });
    return () => observer.current?.disconnect();
  }, [heights]);

  const observed = useRef(new Set<Element>());
  useLayoutEffect(() => {
    const list = listRef.current;
    const ro = observer.current;
    if (list && ro) {
      const now = new Set<Element>(list.querySelectorAll('[data-window-key]'));
      for (const el of observed.current) if (!now.has(el)) ro.unobserve(el);
      for (const el of now) if (!observed.current.has(el)) ro.observe(el);
      observed.current = now;
    }
    // Keep the anchor row where it was on screen: rows above it came, went or were measured.
    const a = anchor.current;
    if (!active || !list || !a) return;
    // Scrolled since the anchor was read (the read waits for a frame): read it again instead.
    if (Math.abs(window.scrollY - a.scrollY) > 0.5) {
      readView();
      return;
    }
    const index = keys.indexOf(a.key);
    if (index < 0) return;
    const want = offsetOf(keys, heights, index) + a.into;
    const now = -list.getBoundingClientRect().top;
    if (Math.abs(want - now) > 1) {
      window.scrollBy(0, want - now);
      readView();
    }
  });

  useEffect(() => heights.keepOnly(new Set(keys)), [keys, heights]);

  const range = rangeOf(keys, heights, view.top, view.bottom);

  /** Scrolls row `index` into the window when it is outside it. */
  const reveal = useCallback(
    (index: number) => {
      const list = listRef.current;
      if (!list || index < 0 || index >= keys.length) return;
      const listTop = list.getBoundingClientRect().top + window.scrollY;
      const y = listTop + offsetOf(keys, heights, index);
      const h = heights.get(keys[index]!);
      if (y < window.scrollY || y + h > window.scrollY + window.innerHeight) {
        window.scrollTo({ top: Math.max(0, y - window.innerHeight / 3) });
        readView();
      }
    },
    [keys, heights, listRef, readView],
  );

  return { range, reveal };
}
