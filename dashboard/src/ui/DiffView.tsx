// A read-only view of a unified diff: old and new line numbers, added and removed lines coloured.
import { useMemo } from 'preact/hooks';
import { parseUnifiedDiff } from './diff';

export function DiffView({ diff, label }: { diff: string; label: string }) {
  const parsed = useMemo(() => parseUnifiedDiff(diff), [diff]);
  if (parsed.added === 0 && parsed.removed === 0) {
    return <p class="muted">No changes.</p>;
  }
  return (
    <div class="diff" role="region" aria-label={label} tabIndex={0}>
      <div class="diff-summary">
        {parsed.oldName && parsed.newName ? (
          <span>
            {parsed.oldName} → {parsed.newName}
          </span>
        ) : null}
        <span class="diff-count-add">+{parsed.added}</span>
        <span class="diff-count-del">−{parsed.removed}</span>
      </div>
      <table class="diff-table">
        <tbody>
          {parsed.lines.map((line, i) =>
            line.kind === 'header' ? null : line.kind === 'hunk' || line.kind === 'note' ? (
              <tr key={i} class={`diff-${line.kind}`}>
                <td class="diff-old" />
                <td class="diff-new" />
                <td class="diff-text">{line.text}</td>
              </tr>
            ) : (
              <tr key={i} class={`diff-${line.kind}`}>
                <td class="diff-old">{line.oldNo ?? ''}</td>
                <td class="diff-new">{line.newNo ?? ''}</td>
                <td class="diff-text">
                  <span class="diff-mark" aria-hidden="true">
                    {line.kind === 'add' ? '+' : line.kind === 'del' ? '−' : ' '}
                  </span>
                  {line.kind === 'add' ? <span class="sr-only">added: </span> : line.kind === 'del' ? <span class="sr-only">removed: </span> : null}
                  {line.text}
                </td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </div>
  );
}
