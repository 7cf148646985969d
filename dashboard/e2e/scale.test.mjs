// 1,000 failing pods in a real browser against a real `podmirror demo`: only a window of rows is in the DOM, the keys and the search reach any pod, and pods arriving above the view do not move what is being read.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, shot, startDemo, unschedulable } from './harness.mjs';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('scale');
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  await demo?.stop();
});

/** The count the list shows ("1012 failing"). */
async function failing(page) {
  const text = await page.getByTestId('pod-count').innerText();
  return Number(/^(\d+) failing/.exec(text)?.[1] ?? 0);
}

async function waitForCount(page, atLeast, timeout = 120_000) {
  await page.waitForFunction(
    (n) => Number(/^(\d+) failing/.exec(document.querySelector('[data-testid="pod-count"]')?.textContent ?? '')?.[1] ?? 0) >= n,
    atLeast,
    { timeout, polling: 200 },
  );
}

test('1,000 failing pods: a window of rows, keys and search reach any pod, and rows arriving above leave the view still', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);
  await page.locator('[data-testid="pod-row"]').first().waitFor({ timeout: 60_000 });
  const shop = await failing(page);

  await unschedulable(demo, 'shop', 'crowd', 1000);
  await waitForCount(page, shop + 1000);
  const rows = await page.locator('[data-testid="pod-row"]').count();
  assert.ok(rows > 10 && rows < 150, `rows in the DOM: ${rows}`);

  // By keys alone, far past the first screen: / then Enter into the list, then j 150 times.
  await page.keyboard.press('/');
  await page.keyboard.press('Enter');
  for (let i = 0; i < 150; i++) await page.keyboard.press('j');
  await page.waitForFunction(() => !!document.activeElement?.getAttribute('data-toggle-for'), null, { timeout: 5_000 });
  const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-toggle-for'));
  const expected = await page.evaluate(() => {
    const ids = [...document.querySelectorAll('[data-testid="pod-row"]')].map((r) => r.dataset.podId);
    return ids;
  });
  assert.ok(focused && expected.includes(focused), `a rendered row has the focus: ${focused}`);
  const inView = await page.evaluate((id) => {
    const r = document.querySelector(`[data-toggle-for="${CSS.escape(id)}"]`).getBoundingClientRect();
    return r.top >= 0 && r.bottom <= window.innerHeight;
  }, focused);
  assert.ok(inView, `the focused row ${focused} is on screen`);

  // The search reaches a pod far down the list.
  await page.keyboard.press('/');
  const crowdPods = await (await demo.sim('/api/v1/namespaces/shop/pods?labelSelector=app%3Dcrowd')).json();
  const far = crowdPods.items.map((p) => p.metadata.name).sort().at(-1);
  await page.keyboard.type(far);
  await page.locator(`[data-pod-id="shop:${far}"]`).waitFor({ timeout: 5_000 });
  await page.keyboard.press('Escape');
  await waitForCount(page, shop + 1000);

  // Scrolled to the middle, 60 pods arrive in a namespace sorted above: what is on screen stays put.
  await page.evaluate(() => window.scrollTo({ top: document.documentElement.scrollHeight / 2 }));
  await page.waitForTimeout(300);
  const anchor = await page.evaluate(() => {
    const row = [...document.querySelectorAll('[data-testid="pod-row"]')].find((r) => r.getBoundingClientRect().top > 100);
    return { id: row.dataset.podId, top: row.getBoundingClientRect().top };
  });
  await unschedulable(demo, 'aaa-early', 'early', 60);
  await waitForCount(page, shop + 1060);
  await page.waitForTimeout(500);
  const moved = await page.evaluate((id) => document.querySelector(`[data-pod-id="${CSS.escape(id)}"]`)?.getBoundingClientRect().top ?? null, anchor.id);
  assert.notEqual(moved, null, `${anchor.id} is still rendered`);
  assert.ok(Math.abs(moved - anchor.top) <= 2, `${anchor.id} stays at ${anchor.top}px, not ${moved}px`);
  await shot(page, 'scale', '1-thousand-pods');
  assert.deepEqual(errors, []);
  await page.close();
});
