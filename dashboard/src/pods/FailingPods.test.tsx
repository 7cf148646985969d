// Tests of the failing-pods list at scale: 1,000 pods put only a window of rows in the DOM, and a live change to one pod renders that row alone.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { render } from 'preact';
import { act } from 'preact/test-utils';
import { Heights, offsetOf, rangeOf } from '../ui/windowed';
import { FailingPods } from './FailingPods';
import { PodRow } from './PodRow';
import { pod } from './fixtures';
import { applyUpdate, fromSnapshot, type PodMap } from './store';

const many = (n: number) => Array.from({ length: n }, (_, i) => pod('shop', `web-${String(i).padStart(4, '0')}`));

describe('rangeOf', () => {
  const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
  const heights = new Heights();
  keys.forEach((k, i) => heights.set(k, 10 * (i + 1))); // 10, 20, … 60; 210 in all

  it('takes the rows that meet the view and keeps the rest as space', () => {
    const r = rangeOf(keys, heights, 25, 55, 0);
    expect(r).toEqual({ start: 1, end: 3, before: 10, after: 150 });
    expect(r.before + 20 + 30 + r.after).toBe(210);
  });

  it('widens the window by the overscan, within the list', () => {
    expect(rangeOf(keys, heights, 25, 55, 1000)).toEqual({ start: 0, end: 6, before: 0, after: 0 });
  });

  it('renders nothing past the end, keeping the whole height above', () => {
    expect(rangeOf(keys, heights, 500, 600, 0)).toEqual({ start: 6, end: 6, before: 210, after: 0 });
  });

  it('estimates rows not measured yet by the mean of those that were', () => {
    const h = new Heights();
    h.set('a', 40);
    h.set('b', 60);
    expect(h.get('z')).toBe(50);
    h.keepOnly(new Set(['a']));
    expect(h.get('z')).toBe(40);
    expect(offsetOf(['a', 'x', 'y'], h, 2)).toBe(80);
  });
});

describe('FailingPods with 1,000 pods', () => {
  let host: HTMLElement;
  afterEach(() => {
    render(null, host);
    host.remove();
    vi.restoreAllMocks();
  });

  function show(pods: PodMap) {
    render(<FailingPods pods={pods} loaded conn="live" error={null} active />, host);
  }

  it('puts a window of rows in the DOM, with space for the others', async () => {
    host = document.body.appendChild(document.createElement('div'));
    await act(() => show(fromSnapshot(many(1000))));
    const rows = host.querySelectorAll('[data-testid="pod-row"]');
    expect(rows.length).toBeGreaterThan(10);
    expect(rows.length).toBeLessThan(100);
    expect(host.querySelector('[data-testid="pod-count"]')!.textContent).toBe('1000 failing');
    const spacers = [...host.querySelectorAll<HTMLElement>('.pod-spacer')];
    expect(spacers.length).toBe(1);
    expect(parseFloat(spacers[0]!.style.height)).toBeGreaterThan(40_000);
  });

  it('renders only the row whose pod changed', async () => {
    host = document.body.appendChild(document.createElement('div'));
    let pods = fromSnapshot(many(1000));
    await act(() => show(pods));
    const renders = vi.spyOn(PodRow.prototype, 'render');
    const changed = { ...pods.get('shop:web-0003')!, restarts: 4, reasons: ['CrashLoopBackOff'], reason: 'CrashLoopBackOff' };
    pods = applyUpdate(pods, [changed], []);
    await act(() => show(pods));
    expect(renders).toHaveBeenCalledTimes(1);
    expect(renders.mock.calls[0]![0].pod.pod).toBe('web-0003');
    const row = host.querySelector('[data-pod-id="shop:web-0003"]')!;
    expect(row.textContent).toContain('CrashLoopBackOff');
  });
});
