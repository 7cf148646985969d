// In a real browser against a real `podmirror demo`: a read token sees no Test Fix, Deploy or Delete; an expired token goes back to sign-in; a pod that vanished under an open Test Fix gets the API's message where the user acted, and no mirror is made.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launch, rowOf, shot, startDemo } from './harness.mjs';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('roles');
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  await demo?.stop();
});

async function signIn(page, token) {
  await page.goto(demo.base);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('user').waitFor();
}

async function api(method, path, token, body) {
  const r = await fetch(`${demo.base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** The sim's API server, from the demo's kubeconfig (plain HTTP on loopback). */
function simServer() {
  const kc = readFileSync(join(demo.dir, 'kc.yaml'), 'utf8');
  return /server:\s*(\S+)/.exec(kc)[1];
}

test('a read token previews fixes but sees no Test Fix, Deploy, Delete or admin tabs', async () => {
  const reader = demo.cli(['token', 'create', '--name', 'reader', '--role', 'read']);
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signIn(page, reader);
  assert.match(await page.getByTestId('user').innerText(), /reader\s*read/);
  assert.equal(await page.getByRole('tab', { name: 'Audit' }).count(), 0);
  assert.equal(await page.getByRole('tab', { name: 'Admin' }).count(), 0);

  // An admin's mirror of the api pod: the reader sees it, but may not delete it.
  const api_ = rowOf(page, 'api');
  await api_.locator('.pod-toggle').click();
  await api_.getByTestId('diagnosis').waitFor({ timeout: 45_000 });
  const podId = await api_.getAttribute('data-pod-id');
  const made = await api('POST', `/api/mirror/deploy/${podId}`, demo.token, { set_image: ['api=registry.example.com/shop/api:1.4.1'] });
  assert.equal(made.status, 201, JSON.stringify(made.body));

  assert.equal(await api_.getByRole('button', { name: 'Test Fix' }).count(), 0);
  assert.match(await api_.getByTestId('apply-refusal').innerText(), /Fix application is disabled for your role\. Contact your platform admin\./);
  await api_.getByRole('button', { name: 'Preview' }).click();
  const dialog = page.getByTestId('testfix-dialog');
  await dialog.locator('.cm-merge-b .cm-line', { hasText: 'image: registry.example.com/shop/api:1.4.1' }).waitFor({ timeout: 20_000 });
  assert.equal(await dialog.getByTestId('deploy').count(), 0);
  assert.equal(await dialog.getByTestId('edit-manifest').count(), 0);
  assert.match(await dialog.getByTestId('read-only-note').innerText(), /an admin deploys mirrors/);
  await shot(page, 'roles-and-errors', '1-read-preview');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });

  // The mirror's chip arrives live; its panel has no Extend or Delete.
  const chip = api_.getByTestId('mirror-chip');
  await chip.waitFor({ timeout: 20_000 });
  await chip.click();
  const panel = page.getByTestId('mirror-panel');
  await panel.getByTestId('mirror').waitFor();
  assert.equal(await panel.getByRole('button', { name: 'Delete now' }).count(), 0);
  assert.equal(await panel.getByRole('button', { name: /Extend/ }).count(), 0);
  await shot(page, 'roles-and-errors', '2-read-mirror');
  // And the API refuses the reader all the same.
  const refused = await api('DELETE', `/api/mirror/${made.body.id}`, reader);
  assert.equal(refused.status, 403);
  await page.close();
});

test('an expired token goes back to sign-in with the reason', async () => {
  const brief = demo.cli(['token', 'create', '--name', 'brief', '--role', 'admin', '--expires-in', '4s']);
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signIn(page, brief);
  // Nothing is clicked: the open stream notices within its check period.
  await page.getByTestId('signin-message').waitFor({ timeout: 40_000 });
  assert.match(await page.getByTestId('signin-message').innerText(), /token "brief" expired at .*ask an admin for a new one/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('podmirror.token')), null);
  await shot(page, 'roles-and-errors', '3-expired');
  // Signing in with it again is refused with the same reason.
  await page.getByLabel('API token').fill(brief);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForFunction(() => /expired/.test(document.querySelector('[data-testid="signin-message"]')?.textContent ?? ''));
  await page.close();
});

test('a pod whose workload vanished under an open Test Fix: the deploy says so and makes nothing', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(demo.url);
  const orders = rowOf(page, 'billing');
  await orders.locator('.pod-toggle').click();
  await orders.getByRole('button', { name: 'Test Fix' }).click({ timeout: 45_000 });
  const dialog = page.getByTestId('testfix-dialog');
  await dialog.locator('.cm-merge-b .cm-line').first().waitFor({ timeout: 20_000 });
  const podId = await orders.getAttribute('data-pod-id');
  const [ns, name] = podId.split(':');
  const before = (await api('GET', '/api/mirror/active', demo.token)).body.length;

  // Its whole workload is deleted (a pod alone would be sourced from its ReplicaSet's template).
  const owner = (await orders.locator('.pod-owner').innerText()).replace('ReplicaSet/', '');
  const gone = await fetch(`${simServer()}/apis/apps/v1/namespaces/${ns}/deployments/billing?propagationPolicy=Background`, { method: 'DELETE' });
  assert.ok(gone.ok, `the sim deleted deployment/billing: ${gone.status}`);
  for (const path of [`/apis/apps/v1/namespaces/${ns}/replicasets/${owner}`, `/api/v1/namespaces/${ns}/pods/${name}`]) {
    for (let i = 0; i < 200 && (await fetch(`${simServer()}${path}`)).status !== 404; i++) await new Promise((r) => setTimeout(r, 100));
  }
  await dialog.getByTestId('deploy').click();
  const error = dialog.getByTestId('deploy-error');
  await error.waitFor({ timeout: 15_000 });
  assert.match(await error.innerText(), /not found/);
  await shot(page, 'roles-and-errors', '4-pod-vanished');
  assert.equal((await api('GET', '/api/mirror/active', demo.token)).body.length, before);
  // The dialog stays open with the message; Esc closes it.
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  await page.close();
});
