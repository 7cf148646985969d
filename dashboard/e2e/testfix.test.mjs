// As an admin, in a real browser against a real `podmirror demo`: Test Fix with the diagnosed fix, an edit with a YAML error then a field the API server refuses (each shown where it is), Deploy, the countdown, the verdict Healthy, Delete now.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { countdownSeconds, launch, rowOf, shot, startDemo } from './harness.mjs';

let demo;
let chrome;
before(async () => {
  demo = await startDemo('testfix');
  chrome = await launch();
});
after(async () => {
  await chrome?.close();
  await demo?.stop();
});

const IMAGE = 'registry.example.com/shop/api:1.4.1';

test('an admin tests the diagnosed fix on a mirror, edits it, deploys it, sees it Healthy and deletes it', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(demo.url);
  const api = rowOf(page, 'api');
  await api.locator('.pod-toggle').click();
  await api.getByRole('button', { name: 'Test Fix' }).click({ timeout: 45_000 });

  // The fixed manifest beside the source, in a diff view, checked by a dry run.
  const dialog = page.getByTestId('testfix-dialog');
  const mirrorSide = dialog.locator('.cm-merge-b');
  await mirrorSide.locator('.cm-line', { hasText: `image: ${IMAGE}` }).waitFor({ timeout: 20_000 });
  assert.equal(await dialog.locator('.cm-merge-a .cm-line', { hasText: 'image: registry.example.com/shop/api:1.4.9' }).count(), 1);
  assert.ok((await dialog.locator('.cm-changedLine, .cm-changedText').count()) > 0, 'the diff marks what changed');
  for (const label of ['Strip probes', 'Scale down', 'Keep labels']) assert.match(await dialog.innerText(), new RegExp(label));
  assert.equal(await dialog.getByTestId('ttl').inputValue(), '180');
  await shot(page, 'testfix', '1-test-fix');

  // Edit Manifest: a YAML error is marked at its line and blocks Deploy.
  await dialog.getByTestId('edit-manifest').click();
  const content = mirrorSide.locator('.cm-content');
  await content.click();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('\nbroken: [1, 2');
  const yamlProblem = dialog.locator('.problem-yaml').first();
  await yamlProblem.waitFor({ timeout: 10_000 });
  assert.match(await yamlProblem.innerText(), /^line \d+ YAML: /);
  // Marked in the text and in the gutter.
  await mirrorSide.locator('.cm-lintRange-error, .cm-lintPoint-error').first().waitFor({ state: 'attached', timeout: 5_000 });
  await mirrorSide.locator('.cm-lint-marker-error').first().waitFor({ timeout: 5_000 });
  await shot(page, 'testfix', '2-yaml-error');
  await dialog.getByTestId('deploy').click();
  assert.match(await dialog.getByTestId('deploy-error').innerText(), /YAML errors/);

  // Fixed: the line goes, and so does the error.
  await page.keyboard.press('Control+End');
  await page.keyboard.press('Shift+Home');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Backspace');
  await dialog.locator('.problem-yaml').first().waitFor({ state: 'detached', timeout: 10_000 });

  // A value the API server refuses: its dry run's cause is shown at the field.
  await mirrorSide.locator('.cm-line', { hasText: `image: ${IMAGE}` }).click();
  await page.keyboard.press('End');
  for (let i = 0; i < IMAGE.length; i++) await page.keyboard.press('Backspace');
  await page.keyboard.type('""');
  await dialog.getByRole('button', { name: 'Check with the API server' }).click();
  const serverProblem = dialog.locator('.problem-server').first();
  await serverProblem.waitFor({ timeout: 10_000 });
  assert.match(await serverProblem.innerText(), /spec\.containers\[0\]\.image/);
  await shot(page, 'testfix', '3-dry-run-refused');

  // Put the image back; the check passes.
  await mirrorSide.locator('.cm-line', { hasText: 'image: ""' }).click();
  await page.keyboard.press('End');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(IMAGE);
  await dialog.getByRole('button', { name: 'Check with the API server' }).click();
  await dialog.getByTestId('check-note').waitFor({ timeout: 10_000 });
  assert.equal(await dialog.locator('.problem-server').count(), 0);

  // A TTL outside the admin's limits is refused before anything is sent.
  await dialog.getByTestId('ttl').fill('20');
  await dialog.getByTestId('deploy').click();
  assert.match(await dialog.getByTestId('deploy-error').innerText(), /30 to 3600/);
  await dialog.getByTestId('ttl').fill('300');

  // Deploy: the mirror panel, live.
  await dialog.getByTestId('deploy').click();
  const panel = page.getByTestId('mirror-panel');
  await panel.getByTestId('mirror').waitFor({ timeout: 20_000 });
  const countdown = panel.getByTestId('countdown');
  const first = countdownSeconds(await countdown.innerText());
  assert.ok(first > 280 && first <= 300, `countdown starts near the TTL: ${first}`);
  await page.waitForFunction(([el, n]) => {
    const t = el.textContent ?? '';
    let s = 0;
    for (const [, v, u] of t.matchAll(/(\d+)([hms])/g)) s += Number(v) * (u === 'h' ? 3600 : u === 'm' ? 60 : 1);
    return s > 0 && s < n;
  }, [await countdown.elementHandle(), first], { timeout: 10_000 });

  // The verdict is the API's: Healthy once ready without restarts for the settle time.
  await panel.locator('[data-testid="verdict"]', { hasText: 'Healthy' }).waitFor({ timeout: 60_000 });
  assert.match(await panel.getByTestId('mirror-containers').innerText(), /running/);
  // Its events arrive as they happen.
  await panel.getByTestId('events').getByText('Started', { exact: true }).waitFor({ timeout: 15_000 });
  await shot(page, 'testfix', '4-mirror-healthy');

  // The failing list shows the mirror's chip on its pod.
  const mirrorId = (await panel.locator('h2').innerText()).replace(/^Mirror /, '');
  assert.match(mirrorId, /^api-[a-z0-9-]+-mirror-[a-z0-9]{5}$/);

  // Delete now: the panel says so, and the cluster has no such pod.
  await panel.getByRole('button', { name: 'Delete now' }).click();
  await panel.getByTestId('mirror-deleted').waitFor({ timeout: 20_000 });
  await shot(page, 'testfix', '5-mirror-deleted');
  const status = await fetch(`${demo.base}/api/mirror/status/${mirrorId}`, { headers: { Authorization: `Bearer ${demo.token}` } });
  assert.equal(status.status, 404);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a mirror that fails shows Failing with the reason, exit code and last log lines, never "works"', async () => {
  const page = await chrome.browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(demo.url);
  const orders = rowOf(page, 'orders');
  await orders.waitFor();
  // A mirror of the crashing pod with no change (through the API, as the CLI would).
  const podId = await orders.getAttribute('data-pod-id');
  const r = await fetch(`${demo.base}/api/mirror/deploy/${podId}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${demo.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ ttl_seconds: 120 }),
  });
  assert.equal(r.status, 201, await r.text());
  await orders.getByTestId('mirror-chip').click({ timeout: 20_000 });
  const panel = page.getByTestId('mirror-panel');
  // While it runs it is Pending, not "works".
  assert.doesNotMatch(await panel.innerText(), /works/i);
  const verdict = panel.locator('[data-testid="verdict"]', { hasText: 'Failing' });
  await verdict.waitFor({ timeout: 60_000 });
  const text = await verdict.innerText();
  assert.match(text, /exit code 1/);
  assert.match(text, /DATABASE_URL/);
  await shot(page, 'testfix', '6-mirror-failing');
  await panel.getByRole('button', { name: 'Delete now' }).click();
  await panel.getByTestId('mirror-deleted').waitFor({ timeout: 20_000 });
  await page.close();
});
