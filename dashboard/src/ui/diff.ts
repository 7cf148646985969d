// A parser of unified diff text (the API's `diff` fields) into numbered lines for DiffView.

export type DiffLineKind = 'header' | 'hunk' | 'context' | 'add' | 'del' | 'note';

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
  /** Line number in the old text (context and deleted lines). */
  oldNo: number | null;
  /** Line number in the new text (context and added lines). */
  newNo: number | null;
}

export interface ParsedDiff {
  oldName: string | null;
  newName: string | null;
  lines: DiffLine[];
  added: number;
  removed: number;
}

const HUNK = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$/;

export function parseUnifiedDiff(text: string): ParsedDiff {
  const result: ParsedDiff = { oldName: null, newName: null, lines: [], added: 0, removed: 0 };
  if (!text) return result;
  const rows = text.replace(/\r\n/g, '\n').split('\n');
  if (rows.length > 0 && rows[rows.length - 1] === '') rows.pop();
  let oldNo = 0;
  let newNo = 0;
  // Lines still expected in the current hunk (from its header); 0 outside one.
  let oldLeft = 0;
  let newLeft = 0;
  for (const row of rows) {
    const inHunk = oldLeft > 0 || newLeft > 0;
    if (!inHunk) {
      const hunk = HUNK.exec(row);
      if (hunk) {
        oldNo = Number(hunk[1]);
        newNo = Number(hunk[3]);
        oldLeft = hunk[2] === undefined ? 1 : Number(hunk[2]);
        newLeft = hunk[4] === undefined ? 1 : Number(hunk[4]);
        result.lines.push({ kind: 'hunk', text: row, oldNo: null, newNo: null });
      } else if (row.startsWith('\\')) {
        result.lines.push({ kind: 'note', text: row, oldNo: null, newNo: null });
      } else {
        if (row.startsWith('--- ')) result.oldName ??= row.slice(4).trim();
        else if (row.startsWith('+++ ')) result.newName ??= row.slice(4).trim();
        result.lines.push({ kind: 'header', text: row, oldNo: null, newNo: null });
      }
      continue;
    }
    const mark = row.charAt(0);
    const body = row.slice(1);
    if (mark === '+') {
      result.lines.push({ kind: 'add', text: body, oldNo: null, newNo: newNo++ });
      result.added++;
      newLeft--;
    } else if (mark === '-') {
      result.lines.push({ kind: 'del', text: body, oldNo: oldNo++, newNo: null });
      result.removed++;
      oldLeft--;
    } else if (mark === '\\') {
      result.lines.push({ kind: 'note', text: row, oldNo: null, newNo: null });
    } else {
      // ' ', or an empty line that some generators write for an empty context line
      result.lines.push({ kind: 'context', text: mark === ' ' ? body : row, oldNo: oldNo++, newNo: newNo++ });
      oldLeft--;
      newLeft--;
    }
  }
  return result;
}
