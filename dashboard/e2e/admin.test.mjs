// As an admin, in a real browser against a real `podmirror demo`: the Active mirrors tab live with Extend and Delete; the mirror TTL set in Admin → Settings (a refusal shown as the API gave it) and used by the next mirror; a fix proven Healthy on that mirror, applied to the live Deployment after a confirmation naming cluster, namespace and workload; its audit entry found from the result, with its patch and the chain verified, and filtered by time.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { countdownSeconds, launch, rowOf, shot, startDemo } from './harness.mjs';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('admin');
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  await demo?.stop();
});

const IMAGE = 'registry.example.com/shop/api:1.4.1';

/** The sim's Deployment `name` in shop, read straight from its API server. */
async function deployment(name) {
  const kubeconfig = readFileSync(join(demo.dir, 'kc.yaml'), 'utf8');
  const server = /server:\s*(\S+)/.exec(kubeconfig)[1];
  const r = await fetch(`${server}/apis/apps/v1/namespaces/shop/deployments/${name}`);
  return r.json();
}

test('an admin sets the mirror TTL, proves a fix on a mirror of that TTL, applies it and finds it in the audit', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);

  // Admin → Settings: 20 s is refused with the API's own words.
  await page.getByRole('tab', { name: 'Admin' }).click();
  const ttl = page.locator('input[name="ttl"]');
  await ttl.waitFor({ timeout: 15_000 });
  assert.equal(await ttl.inputValue(), '180');
  await ttl.fill('20');
  await page.getByRole('button', { name: 'Save' }).click();
  const refused = await page.getByTestId('settings-error').innerText();
  const api = await fetch(`${demo.base}/api/admin/settings/mirror-ttl`, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${demo.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ttl_seconds: 20 }),
  });
  assert.equal(api.status, 422);
  assert.ok(refused.includes((await api.json()).message), `shown as the API said it: ${refused}`);
  await shot(page, 'admin', '1-ttl-refused');
  await ttl.fill('45');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByTestId('settings-saved').waitFor({ timeout: 10_000 });
  assert.match(await page.getByText('Current: 45 s').innerText(), /45/);

  // The next mirror lives 45 s: its countdown starts there.
  await page.getByRole('tab', { name: /Failing pods/ }).click();
  const row = rowOf(page, 'api');
  await row.locator('.pod-toggle').click();
  await row.getByRole('button', { name: 'Test Fix' }).click({ timeout: 45_000 });
  const dialog = page.getByTestId('testfix-dialog');
  await dialog.locator('.cm-merge-b .cm-line', { hasText: `image: ${IMAGE}` }).waitFor({ timeout: 20_000 });
  assert.equal(await dialog.getByTestId('ttl').inputValue(), '45');
  await dialog.getByTestId('deploy').click();
  const panel = page.getByTestId('mirror-panel');
  const countdown = panel.getByTestId('countdown');
  await countdown.waitFor({ timeout: 20_000 });
  const first = countdownSeconds(await countdown.innerText());
  assert.ok(first > 35 && first <= 45, `countdown starts at the new TTL: ${first}`);
  await panel.locator('[data-testid="verdict"]', { hasText: 'Healthy' }).waitFor({ timeout: 30_000 });
  await shot(page, 'admin', '2-mirror-45s-healthy');
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'detached', timeout: 5_000 });

  // Apply fix: the template's diff, a confirmation that names where, and that it was proven.
  const before = await deployment('api');
  assert.equal(before.spec.template.spec.containers[0].image, 'registry.example.com/shop/api:1.4.9');
  await row.getByRole('button', { name: 'Apply fix…' }).click({ timeout: 15_000 });
  const plan = page.getByTestId('apply-plan');
  await plan.waitFor({ timeout: 15_000 });
  assert.equal(await plan.getByTestId('apply-cluster').innerText(), 'podmirror-sim');
  const text = await plan.innerText();
  assert.match(text, /live workload deployment\/api in namespace shop on cluster podmirror-sim/);
  assert.match(await plan.getByTestId('apply-proof').innerText(), /^Proven: mirror api-.*-mirror-[a-z0-9]{5} was Healthy/);
  assert.match(text, new RegExp(IMAGE.replaceAll('.', '\\.')));
  await shot(page, 'admin', '3-apply-confirm');
  await plan.getByRole('button', { name: 'Yes, apply to deployment/api in shop' }).click();
  const result = page.getByTestId('apply-result');
  await result.waitFor({ timeout: 15_000 });
  const after = await deployment('api');
  assert.equal(after.spec.template.spec.containers[0].image, IMAGE);

  // The result links its audit entry: the Audit tab opens on it, the chain verified.
  const link = result.getByRole('link', { name: /audit entry #\d+/ });
  const seq = /#(\d+)/.exec(await link.innerText())[1];
  await link.click();
  const entry = page.locator(`#audit-${seq}`);
  await entry.waitFor({ timeout: 10_000 });
  assert.equal(await entry.getAttribute('aria-current'), 'true');
  assert.match(await entry.innerText(), /deployment\/api/);
  assert.match(await entry.innerText(), /applied/);
  // Its patch, in full, chained with the entry.
  const detail = entry.getByTestId('audit-detail');
  await detail.locator('summary').click();
  const patch = await detail.locator('pre').innerText();
  assert.match(patch, /\/spec\/template\/spec\/containers\/0\/image/);
  assert.ok(patch.includes(IMAGE), patch);
  // The mirror's deploy entry says what was sent.
  assert.ok((await page.locator('tr', { hasText: 'mirror.deploy' }).count()) > 0);
  // Filtered by time: from a minute ahead, nothing; cleared, it is back.
  const ahead = new Date(Date.now() + 60_000 - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
  await page.getByLabel('From').fill(ahead);
  await entry.waitFor({ state: 'detached', timeout: 5_000 });
  await page.getByLabel('From').fill('');
  await entry.waitFor({ timeout: 5_000 });
  await page.getByTestId('chain-status').filter({ hasText: 'chain verified' }).waitFor({ timeout: 10_000 });
  await shot(page, 'admin', '4-audit-entry');
  assert.deepEqual(errors, []);
  await page.close();
});

test('the Active mirrors tab lists mirrors live, and an admin extends and deletes one there', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);
  await page.getByRole('tab', { name: 'Active mirrors' }).click();
  // A mirror made through the API appears without a reload.
  const made = await fetch(`${demo.base}/api/mirror/deploy/shop:deployment%2Fweb`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${demo.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ttl_seconds: 120, scale_down: true }),
  });
  assert.equal(made.status, 201, await made.clone().text());
  const id = (await made.json()).id;
  const row = page.getByTestId('mirror-row').filter({ hasText: id });
  await row.waitFor({ timeout: 15_000 });
  const cells = await row.innerText();
  assert.match(cells, /web/);
  assert.match(cells, /shop/);
  assert.match(cells, /yes \(web\)/, 'the scale-down marker');
  assert.match(cells, /admin/, 'created by');
  const expires = () => row.getByTestId('mirror-expires').innerText().then(countdownSeconds);
  const first = await expires();
  assert.ok(first > 60 && first <= 120, `expires in ${first}`);
  await shot(page, 'admin', '5-active-mirrors');

  // Extend +5 min: the expiry moves on, from the stream.
  await row.getByRole('button', { name: `Extend ${id} by 5 minutes` }).click();
  await page.waitForFunction(
    ([el]) => {
      let s = 0;
      for (const [, v, u] of (el.textContent ?? '').matchAll(/(\d+)([hms])/g)) s += Number(v) * (u === 'h' ? 3600 : u === 'm' ? 60 : 1);
      return s > 300;
    },
    [await row.getByTestId('mirror-expires').elementHandle()],
    { timeout: 10_000 },
  );
  // Delete: the row goes, and the Deployment it scaled down is restored.
  await row.getByRole('button', { name: `Delete ${id}` }).click();
  await row.waitFor({ state: 'detached', timeout: 30_000 });
  const status = await fetch(`${demo.base}/api/mirror/status/${id}`, { headers: { Authorization: `Bearer ${demo.token}` } });
  assert.equal(status.status, 404);
  for (let i = 0; i < 40 && (await deployment('web')).spec.replicas !== 1; i++) await new Promise((r) => setTimeout(r, 250));
  assert.equal((await deployment('web')).spec.replicas, 1);
  assert.deepEqual(errors, []);
  await page.close();
});
