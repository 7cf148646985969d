// A workload whose pods the API server refuses, in a real browser against a real `podmirror demo`: it has a row of its own among the failing pods, its diagnosis and its ReplicaSet's FailedCreate events open from it, and its guessed fix proves Healthy on a mirror of its template.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, shot, startDemo } from './harness.mjs';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('workloads');
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  await demo?.stop();
});

test('a Deployment whose pods are refused is listed, diagnosed and its fix tested on a mirror', async () => {
  const labels = { app: 'ghost' };
  const r = await demo.sim('/apis/apps/v1/namespaces/shop/deployments', {
    method: 'POST',
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'ghost', namespace: 'shop' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { serviceAccountName: 'ghost-runner', containers: [{ name: 'web', image: 'registry.example.com/shop/web:2.3.1' }] },
        },
      },
    },
  });
  assert.ok(r.ok, await r.text());

  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);
  const row = page.locator('[data-pod-id="shop:deployment/ghost"]');
  await row.waitFor({ timeout: 60_000 });
  assert.match(await row.innerText(), /deployment\/ghost/);
  assert.match(await row.innerText(), /admission/);
  await row.locator('.pod-toggle').click();
  const diagnosis = row.getByTestId('diagnosis');
  await diagnosis.waitFor({ timeout: 30_000 });
  assert.match(await diagnosis.innerText(), /error looking up service account shop\/ghost-runner/);
  await row.getByTestId('events').getByText('FailedCreate').first().waitFor({ timeout: 20_000 });
  await shot(page, 'workloads', '1-refused-workload');

  await row.getByRole('button', { name: 'Test Fix' }).click();
  const dialog = page.getByTestId('testfix-dialog');
  await dialog.locator('.cm-merge-b .cm-line', { hasText: 'serviceAccountName: default' }).first().waitFor({ timeout: 20_000 });
  await dialog.getByTestId('deploy').click();
  const panel = page.getByTestId('mirror-panel');
  await panel.locator('[data-testid="verdict"]', { hasText: 'Healthy' }).waitFor({ timeout: 60_000 });
  await page.keyboard.press('Escape');
  await row.getByText('mirror verdict: Healthy').waitFor({ timeout: 20_000 });
  assert.deepEqual(errors, []);
  await page.close();
});
