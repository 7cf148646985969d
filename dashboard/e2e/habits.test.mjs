// People's habits, in a real browser against a real `podmirror demo`: the keyboard alone (/ search, Enter into the list and to expand, Tab to Test Fix, Esc closes and gives focus back, j/k, ?), keys that never fire while typing, both themes, and a 390 px wide screen without sideways scrolling.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, rowOf, shot, startDemo } from './harness.mjs';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('habits');
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  await demo?.stop();
});

/** What has the focus: its tag, text and test id. */
const focused = (page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    return { tag: el?.tagName ?? '', text: (el?.textContent ?? '').trim().slice(0, 80), inDialog: !!el?.closest('[aria-modal="true"]'), toggleFor: el?.dataset?.toggleFor ?? '' };
  });

test('search, open a pod, open Test Fix and close it with the keyboard alone', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);
  const api = rowOf(page, 'api');
  await api.waitFor({ timeout: 30_000 });

  // "/" goes to the search box; letters typed there are text, not shortcuts.
  await page.keyboard.press('/');
  assert.equal((await focused(page)).tag, 'INPUT');
  await page.keyboard.type('api-');
  assert.equal(await page.getByLabel('Search pods').inputValue(), 'api-');
  await page.getByTestId('pod-count').filter({ hasText: /^1 of \d+ failing$/ }).waitFor({ timeout: 10_000 });
  await page.keyboard.press('j');
  assert.equal(await page.getByLabel('Search pods').inputValue(), 'api-j', 'j is text in the search box');
  await page.keyboard.press('Backspace');

  // Enter: into the list, on the one pod; Enter again: its details.
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.activeElement?.dataset?.toggleFor?.startsWith('shop:api-'));
  assert.match(await api.getAttribute('class'), /selected/);
  await page.keyboard.press('Enter');
  await api.getByTestId('diagnosis').waitFor({ timeout: 30_000 });
  await api.getByRole('button', { name: 'Test Fix' }).waitFor({ timeout: 45_000 });

  // Tab to Test Fix and open it: the dialog holds the focus.
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = (await focused(page)).text === 'Test Fix';
  }
  assert.ok(reached, 'Test Fix is reachable with Tab');
  await page.keyboard.press('Enter');
  const dialog = page.getByTestId('testfix-dialog');
  await dialog.waitFor({ timeout: 15_000 });
  await page.waitForFunction(() => !!document.activeElement?.closest('[aria-modal="true"]'));
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    assert.ok((await focused(page)).inDialog, `Tab ${i + 1} stays in the dialog`);
  }
  await shot(page, 'habits', '1-testfix-by-keyboard');

  // Esc closes it and gives the focus back to Test Fix; in the editor or a
  // field Esc belongs to what is typed in, so first Shift+Tab to a button.
  for (let i = 0; i < 30 && (await page.evaluate(() => document.activeElement?.tagName !== 'BUTTON')); i++) await page.keyboard.press('Shift+Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'BUTTON', 'Shift+Tab leaves the editor for a button');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached', timeout: 5_000 });
  await page.waitForFunction(() => document.activeElement !== document.body, null, { timeout: 2_000 }).catch(() => {});
  const back = await focused(page);
  assert.equal(back.text, 'Test Fix', `focus returns: ${JSON.stringify(back)}`);

  // Esc again (outside a field) collapses the pod; "?" lists the shortcuts.
  await page.keyboard.press('Escape');
  await api.getByTestId('diagnosis').waitFor({ state: 'detached', timeout: 5_000 });
  await page.keyboard.press('?');
  const help = page.locator('[aria-modal="true"]');
  await help.getByText('Search the failing pods').waitFor({ timeout: 5_000 });
  await page.keyboard.press('Escape');
  await help.waitFor({ state: 'detached', timeout: 5_000 });

  // j / k move the selection once the search is cleared.
  await page.keyboard.press('/');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => !!document.activeElement?.dataset?.toggleFor);
  const first = (await focused(page)).toggleFor;
  await page.keyboard.press('j');
  await page.waitForFunction((f) => document.activeElement?.dataset?.toggleFor && document.activeElement.dataset.toggleFor !== f, first);
  await page.keyboard.press('k');
  await page.waitForFunction((f) => document.activeElement?.dataset?.toggleFor === f, first);
  assert.deepEqual(errors, []);
  await page.close();
});

test('both themes, and a phone-sized screen with no sideways scrolling', async () => {
  for (const scheme of ['light', 'dark']) {
    const context = await chrome.browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: scheme });
    const page = await context.newPage();
    await page.goto(demo.url);
    await rowOf(page, 'api').waitFor({ timeout: 30_000 });
    // The page follows the system's scheme until the toggle says otherwise.
    const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = background.match(/\d+/g).map(Number);
    const light = (r + g + b) / 3 > 128;
    assert.equal(light, scheme === 'light', `${scheme} system: background ${background}`);
    await shot(page, 'habits', `2-${scheme}`);
    await page.getByRole('button', { name: /Switch to (light|dark) theme/ }).click();
    const toggled = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(toggled, background, 'the toggle switches the theme');
    await context.close();
  }
  const context = await chrome.browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await page.goto(demo.url);
  const api = rowOf(page, 'api');
  await api.waitFor({ timeout: 30_000 });
  await api.locator('.pod-toggle').click();
  await api.getByTestId('diagnosis').waitFor({ timeout: 30_000 });
  const widths = await page.evaluate(() => {
    const view = document.documentElement.clientWidth;
    // The deepest elements that stick out, to say what to fix.
    const wide = [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > view + 1 && ![...el.children].some((c) => c.getBoundingClientRect().right > view + 1))
      .filter((el) => {
        // Inside a box that scrolls (or clips) sideways: that box is what counts.
        for (let p = el.parentElement; p; p = p.parentElement) if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) return false;
        return true;
      })
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} ${Math.round(el.getBoundingClientRect().right)}px`);
    return { scroll: document.documentElement.scrollWidth, view, wide };
  });
  assert.ok(widths.scroll <= widths.view + 1, `no sideways scrolling at 390 px: ${JSON.stringify(widths)}`);
  await shot(page, 'habits', '3-390px');
  await context.close();
});
