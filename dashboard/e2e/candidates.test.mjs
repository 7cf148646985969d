// A diagnosis with several candidate changes, in a real browser against a real `podmirror demo`: the candidates in confidence order, one tested from its own button and found Failing, the first tested and found Healthy, each verdict shown beside its candidate and the proven one shown first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, rowOf, shot, startDemo } from './harness.mjs';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('candidates');
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  await demo?.stop();
});

test('candidates are listed, tested one by one from the page, and the proven one comes first', async () => {
  // web answers 200 on /healthz only; its liveness probe asks /alive, and no
  // other probe or revision names a path: the usual health paths are the candidates.
  const labels = { app: 'beacon' };
  const r = await demo.sim('/apis/apps/v1/namespaces/shop/deployments', {
    method: 'POST',
    body: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'beacon', namespace: 'shop' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'registry.example.com/shop/web:2.3.1',
                ports: [{ containerPort: 8080 }],
                livenessProbe: { httpGet: { path: '/alive', port: 8080 }, periodSeconds: 10, failureThreshold: 3 },
              },
            ],
          },
        },
      },
    },
  });
  assert.ok(r.ok, await r.text());

  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);
  const beacon = rowOf(page, 'beacon');
  await beacon.waitFor({ timeout: 60_000 });
  await beacon.locator('.pod-toggle').click();
  const list = beacon.getByTestId('candidates');
  await list.waitFor({ timeout: 60_000 }).catch(async (e) => {
    await shot(page, 'candidates', '0-no-list');
    console.log(await beacon.innerText());
    throw e;
  });
  const items = list.getByTestId('candidate');
  assert.equal(await items.count(), 8);
  assert.match(await items.nth(0).innerText(), /Probe \/healthz instead of \/alive/);
  assert.match(await items.nth(1).innerText(), /Probe \/health instead of \/alive/);
  assert.match(await list.innerText(), /not tried/);

  // Candidate 2 from its own button: its mirror fails (web answers /health with 404).
  await list.getByRole('button', { name: 'Test candidate 2' }).click();
  let dialog = page.getByTestId('testfix-dialog');
  await dialog.locator('.cm-merge-b .cm-line', { hasText: 'path: /health' }).first().waitFor({ timeout: 20_000 });
  await dialog.getByTestId('deploy').click();
  let panel = page.getByTestId('mirror-panel');
  await panel.locator('[data-testid="verdict"]', { hasText: 'Failing' }).waitFor({ timeout: 60_000 });
  await page.keyboard.press('Escape');
  await items.nth(1).getByText('Failing', { exact: true }).waitFor({ timeout: 20_000 });

  // The first, from Test Fix: Healthy, and shown first from then on.
  await beacon.getByRole('button', { name: 'Test Fix' }).click();
  dialog = page.getByTestId('testfix-dialog');
  await dialog.locator('.cm-merge-b .cm-line', { hasText: 'path: /healthz' }).first().waitFor({ timeout: 20_000 });
  await dialog.getByTestId('deploy').click();
  panel = page.getByTestId('mirror-panel');
  await panel.locator('[data-testid="verdict"]', { hasText: 'Healthy' }).waitFor({ timeout: 60_000 });
  await page.keyboard.press('Escape');
  await items.nth(0).getByText('Healthy', { exact: true }).waitFor({ timeout: 20_000 });
  assert.match(await items.nth(1).innerText(), /Failing/);
  assert.match(await beacon.getByTestId('diagnosis').innerText(), /mirror verdict: Healthy/);
  await shot(page, 'candidates', '1-candidates-with-verdicts');

  // The API says the same: each try on its candidate, the proven one kept.
  const podId = await beacon.getAttribute('data-pod-id');
  const [ns, pod] = podId.split(':');
  const view = await (await fetch(`${demo.base}/api/diagnosis/${pod}?namespace=${ns}`, { headers: { Authorization: `Bearer ${demo.token}` } })).json();
  assert.deepEqual(
    view.tries.map((t) => [t.candidate, t.verdict]),
    [
      [0, 'Healthy'],
      [1, 'Failing'],
    ],
  );
  assert.equal(view.verifiedCandidate, 0);
  assert.deepEqual(errors, []);
  await page.close();
});
