// Write tokens in a real browser against a real `podmirror demo` run with two orgs: where the org's fix policy lets writers apply, a writer sees Apply fix (and no Test Fix, Delete, Extend or admin tabs) and applies a proven fix; where it does not, the writer sees the API's exact refusal where the button would be, and the API refuses all the same.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { launch, rowOf, shot, startDemo } from './harness.mjs';

const CONFIG = `orgs:
  - name: default
    fix_roles: [admin, write]
  - name: partners
    namespaces: [shop]
`;
const IMAGE = 'registry.example.com/shop/api:1.4.1';
const REFUSAL = 'Fix application is disabled for your role. Contact your platform admin.';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('policy', { config: CONFIG });
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

async function deployment(name) {
  const kubeconfig = readFileSync(join(demo.dir, 'kc.yaml'), 'utf8');
  const server = /server:\s*(\S+)/.exec(kubeconfig)[1];
  return (await fetch(`${server}/apis/apps/v1/namespaces/shop/deployments/${name}`)).json();
}

test('a writer whose org lets writers apply: Apply fix on a proven fix, and no Test Fix, Delete, Extend or admin tabs', async () => {
  const writer = demo.cli(['token', 'create', '--name', 'writer', '--role', 'write', '--org', 'default']);
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await signIn(page, writer);
  assert.match(await page.getByTestId('user').innerText(), /writer\s*write/);
  assert.equal(await page.getByRole('tab', { name: 'Audit' }).count(), 0);
  assert.equal(await page.getByRole('tab', { name: 'Admin' }).count(), 0);

  const row = rowOf(page, 'api');
  await row.locator('.pod-toggle').click();
  await row.getByTestId('diagnosis').waitFor({ timeout: 45_000 });
  assert.equal(await row.getByRole('button', { name: 'Test Fix' }).count(), 0);
  assert.equal(await row.getByRole('button', { name: 'Preview' }).count(), 1);
  assert.equal(await row.getByRole('button', { name: 'Diagnose again' }).count(), 1);
  assert.equal(await row.getByTestId('apply-refusal').count(), 0);

  // An admin proves the diagnosed fix on a mirror, as Test Fix sends it.
  const podId = await row.getAttribute('data-pod-id');
  const [ns, name] = podId.split(':');
  const diagnosis = await api('GET', `/api/diagnosis/${name}?namespace=${ns}`, demo.token);
  assert.equal(diagnosis.status, 200, JSON.stringify(diagnosis.body));
  const made = await api('POST', `/api/mirror/deploy/${encodeURIComponent(podId)}`, demo.token, {
    patch: diagnosis.body.patch,
    diagnosis_id: diagnosis.body.id,
  });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  let verdict = '';
  for (let i = 0; i < 120 && verdict !== 'Healthy'; i++) {
    verdict = (await api('GET', `/api/mirror/status/${made.body.id}`, demo.token)).body.verdict;
    if (verdict !== 'Healthy') await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(verdict, 'Healthy');
  await row.getByText('mirror verdict: Healthy').waitFor({ timeout: 15_000 });

  // The writer sees the mirror but may not extend or delete it, here or in Active mirrors.
  const chip = row.getByTestId('mirror-chip');
  await chip.click({ timeout: 20_000 });
  const panel = page.getByTestId('mirror-panel');
  await panel.getByTestId('mirror').waitFor();
  assert.equal(await panel.getByRole('button', { name: 'Delete now' }).count(), 0);
  assert.equal(await panel.getByRole('button', { name: /Extend/ }).count(), 0);
  await page.keyboard.press('Escape');
  await panel.waitFor({ state: 'detached', timeout: 5_000 });
  await page.getByRole('tab', { name: 'Active mirrors' }).click();
  const mirrorRow = page.getByTestId('mirror-row').filter({ hasText: made.body.id });
  await mirrorRow.waitFor({ timeout: 15_000 });
  assert.equal(await mirrorRow.getByRole('button', { name: /Extend|Delete/ }).count(), 0);
  assert.equal(await page.getByRole('columnheader', { name: 'Actions' }).count(), 0);
  await shot(page, 'policy', '1-writer-active-mirrors');

  // Apply fix, as the org allows: proven, confirmed, applied, its audit entry named.
  await page.getByRole('tab', { name: /Failing pods/ }).click();
  await row.getByRole('button', { name: 'Apply fix…' }).click({ timeout: 15_000 });
  const plan = page.getByTestId('apply-plan');
  await plan.waitFor({ timeout: 15_000 });
  assert.match(await plan.getByTestId('apply-proof').innerText(), /^Proven: mirror api-.*-mirror-[a-z0-9]{5} was Healthy/);
  await shot(page, 'policy', '2-writer-apply-confirm');
  await plan.getByRole('button', { name: 'Yes, apply to deployment/api in shop' }).click();
  const result = page.getByTestId('apply-result');
  await result.waitFor({ timeout: 15_000 });
  assert.match(await result.getByTestId('apply-audit-seq').innerText(), /audit entry #\d+ \(an admin reads it in the Audit tab\)/);
  assert.equal(await result.getByRole('link').count(), 0);
  assert.equal((await deployment('api')).spec.template.spec.containers[0].image, IMAGE);
  // The admin finds it under the writer's name.
  const audit = await api('GET', '/api/audit', demo.token);
  assert.ok(
    audit.body.some((e) => e.action === 'fix.apply' && e.who === 'writer' && e.outcome === 'applied'),
    JSON.stringify(audit.body.slice(-3)),
  );
  assert.deepEqual(errors, []);
  await page.close();
});

test('a writer whose org keeps fixes to admins sees the refusal where Apply would be', async () => {
  const writer = demo.cli(['token', 'create', '--name', 'partner', '--role', 'write', '--org', 'partners']);
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await signIn(page, writer);
  const row = rowOf(page, 'billing');
  await row.locator('.pod-toggle').click();
  await row.getByTestId('diagnosis').waitFor({ timeout: 45_000 });
  assert.equal(await row.getByTestId('apply-refusal').innerText(), REFUSAL);
  assert.equal(await row.getByRole('button', { name: 'Apply fix…' }).count(), 0);
  await shot(page, 'policy', '3-partner-refusal');
  const podId = await row.getAttribute('data-pod-id');
  const [ns, name] = podId.split(':');
  const refused = await api('POST', `/api/fix/${encodeURIComponent(name)}/apply?namespace=${ns}`, writer);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.message, REFUSAL);
  await page.close();
});
