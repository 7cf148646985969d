// In a real browser against a real `podmirror demo`: the sign-in link, the live failing list, a pod's details, sign-out and pasting a token.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, rowOf, shot, startDemo } from './harness.mjs';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('list');
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  await demo?.stop();
});

test('the demo link signs in, the failing list is live, a pod opens to its diagnosis, events, logs and YAML', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);
  // Signed in, and the token is gone from the address bar (and so from the history).
  await page.getByTestId('user').waitFor();
  assert.equal(new URL(page.url()).hash, '');
  assert.match(await page.getByTestId('user').innerText(), /admin/);
  assert.equal(await page.getByTestId('cluster').innerText(), 'podmirror-sim');
  await page.locator('[data-testid="connection"][data-state="live"]').waitFor();

  const api = rowOf(page, 'api');
  await api.waitFor();
  // It first shows as not ready, then with the pull failure.
  await api.locator('.cell-reasons', { hasText: /ImagePullBackOff|ErrImagePull/ }).waitFor({ timeout: 30_000 });
  // As kubectl's READY: its traffic tap (a native sidecar) runs, api does not.
  assert.match(await api.locator('[data-label="Ready"]').innerText(), /^1\/2$/);
  await shot(page, 'signin-and-list', '1-failing-pods');

  // Live: a crash-looping pod's restarts move without a reload ("N (x ago)").
  const orders = rowOf(page, 'orders');
  const restarts = orders.locator('[data-label="Restarts"]');
  await page.waitForFunction((el) => /^\d+ \(\d+[smhd] ago\)$/.test(el.textContent ?? ''), await restarts.elementHandle(), { timeout: 30_000 });
  const before = Number((await restarts.innerText()).split(' ')[0]);
  await page.waitForFunction(([el, n]) => Number((el.textContent ?? '').split(' ')[0]) > n, [await restarts.elementHandle(), before], { timeout: 30_000 });

  // The search narrows the list; the namespace filter lists the namespaces.
  await page.getByLabel('Search pods').fill('oomkilled');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="pod-row"]').length === 1);
  assert.equal(await rowOf(page, 'reports').count(), 1);
  await page.getByLabel('Search pods').fill('');

  // Expanding the api pod: the diagnosis (the watcher makes it within seconds), events, logs, YAML.
  await api.locator('.pod-toggle').click();
  const diagnosis = api.getByTestId('diagnosis');
  await diagnosis.waitFor({ timeout: 45_000 });
  const text = await diagnosis.innerText();
  assert.match(text, /image-pull/);
  assert.match(text, /confidence \d+%/);
  assert.match(text, /rules/);
  assert.match(await api.getByTestId('fix-command').innerText(), /kubectl -n shop set image deployment\/api api=registry\.example\.com\/shop\/api:1\.4\.1/);
  assert.match(await api.getByTestId('events').innerText(), /Failed/);
  assert.match(await api.getByTestId('log-message').innerText(), /has not started yet/);
  await api.getByText('YAML', { exact: true }).click();
  const yaml = await api.locator('pre.yaml').innerText();
  assert.match(yaml, /kind: Pod/);
  assert.doesNotMatch(yaml, /managedFields/);
  await shot(page, 'signin-and-list', '2-pod-expanded');

  // A crashing pod's previous run has logs.
  await orders.locator('.pod-toggle').click();
  await orders.getByRole('button', { name: 'Previous' }).click();
  await orders.getByTestId('log-lines').waitFor({ timeout: 20_000 });
  assert.match(await orders.getByTestId('log-lines').innerText(), /DATABASE_URL/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('sign-out forgets the token; pasting one signs in; a bad one says so', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(demo.url);
  await page.getByTestId('user').waitFor();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('podmirror.token')), null);
  await page.reload();
  await page.getByLabel('API token').waitFor();

  await page.getByLabel('API token').fill('pm_nope_0123456789');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signin-message').waitFor();
  assert.match(await page.getByTestId('signin-message').innerText(), /unknown or revoked/);
  await shot(page, 'signin-and-list', '3-signin-refused');

  await page.getByLabel('API token').fill(demo.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user').waitFor();
  // The token lives for the tab's session: a reload stays signed in.
  await page.reload();
  await page.getByTestId('user').waitFor();
  await page.close();
});
