// The dashboard's first-page figures, measured in a real browser against a real `podmirror demo`:
// bytes on the wire (gzip) for the first page and for the editor loaded on demand, and the time
// from navigation to the first failing-pod row, cold (new browser context, empty cache) beside
// warm (a reload in the same context), as medians of RUNS runs; then, with 1,000 more failing pods, the
// time to the list's first render and the JS heap beside the demo's own pods, and a pod's deletion in
// the sim to the page's count (sim write → DOM, p50/p99) beside the sim's own watch seeing it.
// Usage: npm run bench [-- RUNS]  (PODMIRROR_BIN picks the binary; a release build for figures)
import { launch, rowOf, startDemo, unschedulable } from '../e2e/harness.mjs';

const runs = Number(process.argv[2] ?? 7);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Navigation to the first pod row (ms), and the bytes the page fetched (encoded), without the API's JSON. */
async function measure(page, url, reload) {
  if (reload) await page.reload();
  else await page.goto(url);
  await page.locator('[data-testid="pod-row"]').first().waitFor({ timeout: 60_000 });
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const assets = performance.getEntriesByType('resource').filter((r) => !new URL(r.name).pathname.startsWith('/api/'));
    return {
      firstRowMs: performance.now(),
      domContentLoadedMs: nav.domContentLoadedEventEnd,
      bytes: (nav.transferSize || nav.encodedBodySize) + assets.reduce((n, r) => n + (r.transferSize || 0), 0),
      encoded: nav.encodedBodySize + assets.reduce((n, r) => n + r.encodedBodySize, 0),
      files: [new URL(nav.name).pathname, ...assets.map((r) => new URL(r.name).pathname)],
    };
  });
}

const demo = await startDemo('bench');
const chrome = await launch();
const cold = [];
const warm = [];
let firstPage = null;
let editor = null;
try {
  for (let i = 0; i < runs; i++) {
    const context = await chrome.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const c = await measure(page, demo.url, false);
    cold.push(c.firstRowMs);
    firstPage ??= c;
    // Signed in for the tab: a reload keeps the session and uses the cache.
    warm.push((await measure(page, demo.url, true)).firstRowMs);
    if (!editor) {
      const api = rowOf(page, 'api');
      await api.locator('.pod-toggle').click();
      const testFix = api.getByRole('button', { name: 'Test Fix' });
      await testFix.waitFor({ timeout: 45_000 });
      const before = await page.evaluate(() => performance.getEntriesByType('resource').length);
      const t0 = await page.evaluate(() => performance.now());
      await testFix.click();
      await page.locator('.cm-merge-b .cm-line').first().waitFor({ timeout: 30_000 });
      editor = await page.evaluate(
        ([n, t]) => {
          const extra = performance.getEntriesByType('resource').slice(n).filter((r) => !new URL(r.name).pathname.startsWith('/api/'));
          return { ms: performance.now() - t, encoded: extra.reduce((s, r) => s + r.encodedBodySize, 0), files: extra.map((r) => new URL(r.name).pathname) };
        },
        [before, t0],
      );
    }
    await context.close();
  }
} finally {
  await chrome.close();
  await demo.stop();
}
/** A fresh context: navigation → the count shows `atLeast` failing pods (ms), and the JS heap after a GC (bytes). */
async function listFigures(browser, url, atLeast) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(
    (n) => Number(/^(\d+) failing/.exec(document.querySelector('[data-testid="pod-count"]')?.textContent ?? '')?.[1] ?? 0) >= n,
    atLeast,
    { timeout: 120_000, polling: 'raf' },
  );
  const ms = await page.evaluate(() => performance.now());
  const cdp = await context.newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  const { usedSize } = await cdp.send('Runtime.getHeapUsage');
  const rows = await page.locator('[data-testid="pod-row"]').count();
  await context.close();
  return { ms, heap: usedSize, rows };
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

const demo2 = await startDemo('bench-scale');
const chrome2 = await launch();
const small = [];
const big = [];
const domLatency = [];
const watchLatency = [];
try {
  // The demo's own failing pods, then 1,000 more.
  const probe = await chrome2.browser.newPage();
  await probe.goto(demo2.url);
  await probe.locator('[data-testid="pod-row"]').first().waitFor({ timeout: 60_000 });
  await probe.waitForTimeout(3000);
  const shop = Number(/^(\d+)/.exec(await probe.getByTestId('pod-count').innerText())[1]);
  await probe.close();
  for (let i = 0; i < runs; i++) small.push(await listFigures(chrome2.browser, demo2.url, shop));
  await unschedulable(demo2, 'shop', 'crowd', 1000);
  for (let i = 0; i < runs; i++) big.push(await listFigures(chrome2.browser, demo2.url, shop + 1000));

  // Sim write → DOM: bare pods that no node takes, deleted one at a time; the page's count of them is watched.
  const page = await chrome2.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(demo2.url);
  const N = 60;
  for (let i = 0; i < N; i++) {
    const r = await demo2.sim('/api/v1/namespaces/shop/pods', {
      method: 'POST',
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: `lone-${i}` }, spec: { nodeSelector: { 'podmirror.dev/no-such-node': 'true' }, containers: [{ name: 'app', image: 'registry.example.com/shop/web:1.0' }] } },
    });
    if (!r.ok) throw new Error(`creating lone-${i}: ${r.status}`);
  }
  // The page searches for them: its shown count ("60 of 1074 failing") then moves with these pods
  // alone, not with the demo's own pods that come and go as they crash and restart.
  await page.locator('[data-testid="pod-row"]').first().waitFor({ timeout: 60_000 });
  await page.getByLabel('Search pods').fill('lone-');
  const total = N;
  await page.waitForFunction((n) => Number(/^(\d+)/.exec(document.querySelector('[data-testid="pod-count"]')?.textContent ?? '')?.[1] ?? 0) >= n, total, { timeout: 120_000 });
  // The sim's own watch, beside the page, sees the same deletions.
  const watch = await demo2.sim('/api/v1/namespaces/shop/pods?watch=true&fieldSelector=metadata.namespace%3Dshop');
  const reader = watch.body.getReader();
  const seen = new Map();
  let buffered = '';
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += new TextDecoder().decode(value);
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        try {
          const e = JSON.parse(line);
          if (e.type === 'DELETED') seen.set(e.object.metadata.name, Date.now());
        } catch {}
      }
    }
  })();
  for (let i = 0; i < N; i++) {
    const expect = total - i - 1;
    const waiting = page.evaluate(
      (n) =>
        new Promise((resolve) => {
          const el = document.querySelector('[data-testid="pod-count"]');
          const check = () => {
            if (Number(/^(\d+)/.exec(el.textContent ?? '')?.[1] ?? 0) <= n) {
              observer.disconnect();
              resolve(performance.timeOrigin + performance.now());
            }
          };
          const observer = new MutationObserver(check);
          observer.observe(el, { childList: true, characterData: true, subtree: true });
          check();
        }),
      expect,
    );
    await page.waitForTimeout(20);
    const t0 = Date.now();
    const r = await demo2.sim(`/api/v1/namespaces/shop/pods/lone-${i}?gracePeriodSeconds=0`, { method: 'DELETE' });
    if (!r.ok) throw new Error(`deleting lone-${i}: ${r.status}`);
    domLatency.push((await waiting) - t0);
    for (let k = 0; k < 100 && !seen.has(`lone-${i}`); k++) await new Promise((res) => setTimeout(res, 5));
    if (seen.has(`lone-${i}`)) watchLatency.push(seen.get(`lone-${i}`) - t0);
  }
  await reader.cancel().catch(() => {});
} finally {
  await chrome2.close();
  await demo2.stop();
}

const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
console.log(`first page (gzip on the wire): ${kb(firstPage.encoded)} in ${firstPage.files.length} files (${firstPage.files.join(', ')}); budget 250 KB`);
console.log(`editor on demand (Test Fix, first open): ${kb(editor.encoded)} (${editor.files.join(', ')}), ${editor.ms.toFixed(0)} ms from the click to the manifest (with the preview's dry run)`);
console.log(`navigation → first failing-pod row, median of ${runs}: cold ${median(cold).toFixed(0)} ms, warm ${median(warm).toFixed(0)} ms (cold/warm ${(median(cold) / median(warm)).toFixed(2)}×)`);
console.log(JSON.stringify({ runs, coldMs: cold.map(Math.round), warmMs: warm.map(Math.round), firstPageBytes: firstPage.encoded, editorBytes: editor.encoded }));
const mb = (b) => `${(b / 1048576).toFixed(1)} MB`;
const med = (xs, f) => median(xs.map(f));
console.log(
  `failing-pods list, first render (navigation → count shown), median of ${runs}: 1,000+ pods ${med(big, (x) => x.ms).toFixed(0)} ms beside the demo's own ${med(small, (x) => x.ms).toFixed(0)} ms (${(med(big, (x) => x.ms) / med(small, (x) => x.ms)).toFixed(2)}×); rows in the DOM ${big[0].rows}`,
);
console.log(`JS heap after GC: ${mb(med(big, (x) => x.heap))} with 1,000+ pods beside ${mb(med(small, (x) => x.heap))} (${(med(big, (x) => x.heap) / med(small, (x) => x.heap)).toFixed(2)}×)`);
console.log(
  `sim write → DOM (a pod deleted in the sim → the page's count), ${domLatency.length} pods among 1,000+: p50 ${pct(domLatency, 50).toFixed(0)} ms, p99 ${pct(domLatency, 99).toFixed(0)} ms (target p99 < 500 ms); the sim's own watch: p50 ${pct(watchLatency, 50).toFixed(0)} ms, p99 ${pct(watchLatency, 99).toFixed(0)} ms`,
);
console.log(JSON.stringify({ listMs: big.map((x) => Math.round(x.ms)), smallMs: small.map((x) => Math.round(x.ms)), domLatency: domLatency.map(Math.round), watchLatency }));
