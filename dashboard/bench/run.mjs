// The dashboard's first-page figures, measured in a real browser against a real `podmirror demo`:
// bytes on the wire (gzip) for the first page and for the editor loaded on demand, and the time
// from navigation to the first failing-pod row, cold (new browser context, empty cache) beside
// warm (a reload in the same context), as medians of RUNS runs. Usage: npm run bench [-- RUNS]
import { launch, rowOf, startDemo } from '../e2e/harness.mjs';

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
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
console.log(`first page (gzip on the wire): ${kb(firstPage.encoded)} in ${firstPage.files.length} files (${firstPage.files.join(', ')}); budget 250 KB`);
console.log(`editor on demand (Test Fix, first open): ${kb(editor.encoded)} (${editor.files.join(', ')}), ${editor.ms.toFixed(0)} ms from the click to the manifest (with the preview's dry run)`);
console.log(`navigation → first failing-pod row, median of ${runs}: cold ${median(cold).toFixed(0)} ms, warm ${median(warm).toFixed(0)} ms (cold/warm ${(median(cold) / median(warm)).toFixed(2)}×)`);
console.log(JSON.stringify({ runs, coldMs: cold.map(Math.round), warmMs: warm.map(Math.round), firstPageBytes: firstPage.encoded, editorBytes: editor.encoded }));
