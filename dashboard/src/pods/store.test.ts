// Tests of the failing-pods list: snapshot, updates, sorting and the search filter.
import { describe, expect, it } from 'vitest';
import { pod } from './fixtures';
import { applyUpdate, filterPods, fromSnapshot, namespacesOf, reasonsOf, sortPods } from './store';

describe('store', () => {
  const a = pod('shop', 'api-1');
  const b = pod('shop', 'orders-1', { reason: 'CrashLoopBackOff', reasons: ['CrashLoopBackOff', 'Error'] });
  const c = pod('billing', 'pay-10');
  const d = pod('billing', 'pay-9');

  it('applies upserts and removals without touching the old map', () => {
    const first = fromSnapshot([a, b]);
    const next = applyUpdate(first, [c, { ...a, restarts: 2 }], ['shop:orders-1']);
    expect([...first.keys()]).toEqual(['shop:api-1', 'shop:orders-1']);
    expect(next.get('shop:api-1')!.restarts).toBe(2);
    expect(next.has('shop:orders-1')).toBe(false);
    expect(next.has('billing:pay-10')).toBe(true);
    expect(applyUpdate(next, [], ['nope:x'])).toBe(next);
  });

  it('sorts by namespace then name, numbers in order', () => {
    expect(sortPods(fromSnapshot([a, b, c, d])).map((p) => p.pod)).toEqual(['pay-9', 'pay-10', 'api-1', 'orders-1']);
    expect(namespacesOf([a, b, c])).toEqual(['billing', 'shop']);
  });

  it('filters by namespace and by every word of the search', () => {
    const all = [a, b, c, d];
    expect(filterPods(all, { namespace: 'billing', query: '' }).map((p) => p.pod)).toEqual(['pay-10', 'pay-9']);
    expect(filterPods(all, { namespace: '', query: 'crashloop' }).map((p) => p.pod)).toEqual(['orders-1']);
    expect(filterPods(all, { namespace: '', query: 'shop api' }).map((p) => p.pod)).toEqual(['api-1']);
    expect(filterPods(all, { namespace: 'shop', query: 'pay' })).toEqual([]);
    expect(filterPods(all, { namespace: '', query: '' })).toBe(all);
  });

  it('lists reasons for chips', () => {
    expect(reasonsOf(b)).toEqual(['CrashLoopBackOff', 'Error']);
    expect(reasonsOf(pod('x', 'y', { reasons: [], reason: 'Unschedulable' }))).toEqual(['Unschedulable']);
  });
});
