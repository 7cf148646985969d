// Tests of the unified diff parser and its view.
import { describe, expect, it } from 'vitest';
import { render } from 'preact';
import { parseUnifiedDiff } from './diff';
import { DiffView } from './DiffView';

const diff = `--- source
+++ mirror
@@ -2,4 +2,5 @@
 kind: Pod
 metadata:
-  name: api-7c9f
+  name: api-7c9f-mirror-x1y2z
+  labels: {}
 spec:
@@ -17,2 +18,3 @@
   restartPolicy: Always
   serviceAccountName: default
+  activeDeadlineSeconds: 3660
--- not a header
\\ No newline at end of file
`;

describe('parseUnifiedDiff', () => {
  const parsed = parseUnifiedDiff(diff);

  it('reads the file names and counts', () => {
    expect(parsed.oldName).toBe('source');
    expect(parsed.newName).toBe('mirror');
    expect(parsed.added).toBe(3);
    expect(parsed.removed).toBe(1);
  });

  it('numbers old and new lines across hunks', () => {
    const lines = parsed.lines.filter((l) => l.kind !== 'header');
    expect(lines[0]).toMatchObject({ kind: 'hunk' });
    expect(lines[1]).toEqual({ kind: 'context', text: 'kind: Pod', oldNo: 2, newNo: 2 });
    expect(lines[3]).toEqual({ kind: 'del', text: '  name: api-7c9f', oldNo: 4, newNo: null });
    expect(lines[4]).toEqual({ kind: 'add', text: '  name: api-7c9f-mirror-x1y2z', oldNo: null, newNo: 4 });
    expect(lines[6]).toEqual({ kind: 'context', text: 'spec:', oldNo: 5, newNo: 6 });
    const last = lines.find((l) => l.text === '  activeDeadlineSeconds: 3660')!;
    expect(last).toEqual({ kind: 'add', text: '  activeDeadlineSeconds: 3660', oldNo: null, newNo: 20 });
  });

  it('treats text after the last hunk as headers and notes', () => {
    const tail = parsed.lines.slice(-2);
    expect(tail[0]).toMatchObject({ kind: 'header', text: '--- not a header' });
    expect(tail[1]).toMatchObject({ kind: 'note' });
  });

  it('reads a deleted line that starts with dashes inside a hunk', () => {
    const p = parseUnifiedDiff('@@ -1,2 +1,1 @@\n--- x\n a\n');
    expect(p.lines[1]).toEqual({ kind: 'del', text: '-- x', oldNo: 1, newNo: null });
  });

  it('is empty for no diff', () => {
    expect(parseUnifiedDiff('').lines).toEqual([]);
  });
});

describe('DiffView', () => {
  it('renders added and deleted lines with numbers and a summary', () => {
    const host = document.createElement('div');
    render(<DiffView diff={diff} label="Template diff" />, host);
    expect(host.querySelectorAll('.diff-add').length).toBe(3);
    expect(host.querySelectorAll('.diff-del').length).toBe(1);
    expect(host.textContent).toContain('+3');
    expect(host.textContent).toContain('−1');
    const del = host.querySelector('.diff-del')!;
    expect(del.querySelector('.diff-old')!.textContent).toBe('4');
    expect(host.querySelector('[aria-label="Template diff"]')).not.toBeNull();
    render(null, host);
  });

  it('says when there is no change', () => {
    const host = document.createElement('div');
    render(<DiffView diff="" label="x" />, host);
    expect(host.textContent).toContain('No changes');
  });
});
