// The manifest editor's problems: YAML syntax errors at their line, and the server's dry-run causes at their field.
import { parseDocument, isMap } from 'yaml';
import type { Cause } from '../api/types';
import { lineOf, locateField } from './fieldPath';

export interface Problem {
  from: number;
  to: number;
  line: number;
  severity: 'error' | 'warning';
  message: string;
  /** Where it came from: the YAML parser or the server's dry run (its field path). */
  source: 'yaml' | 'server';
  field?: string;
}

/** YAML syntax errors and warnings of a manifest, each at its place. */
export function yamlProblems(text: string): Problem[] {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  const out: Problem[] = [];
  const add = (severity: Problem['severity'], list: typeof doc.errors) => {
    for (const error of list) {
      const [start, end] = error.pos;
      let from = Math.min(Math.max(0, start), text.length);
      let to = Math.min(Math.max(from, end), text.length);
      // An unclosed quote is reported where the text ends: point at the quote that opened it.
      const quote = /Missing closing (["'])quote/.exec(error.message)?.[1];
      if (error.code === 'MISSING_CHAR' && quote) {
        const open = text.lastIndexOf(quote, Math.max(0, from - 1));
        if (open >= 0) {
          from = open;
          const eol = text.indexOf('\n', open);
          to = eol < 0 ? text.length : eol;
        }
      }
      out.push({ from, to, line: lineOf(text, from), severity, message: firstLine(error.message), source: 'yaml' });
    }
  };
  add('error', doc.errors);
  add('warning', doc.warnings);
  if (doc.errors.length === 0 && !isMap(doc.contents)) {
    out.push({ from: 0, to: Math.min(text.length, 1), line: 1, severity: 'error', message: 'A manifest is a YAML mapping (a Pod).', source: 'yaml' });
  }
  return out;
}

function firstLine(message: string): string {
  const line = message.split('\n')[0] ?? message;
  return line.replace(/\s+at line \d+, column \d+:?$/, '').trim();
}

/** The server's refusal causes placed at their fields in the current text (or at line 1 when not found). */
export function causeProblems(text: string, causes: readonly Cause[]): Problem[] {
  return causes.map((cause) => {
    const field = typeof cause.field === 'string' ? cause.field : '';
    const at = field ? locateField(text, field) : null;
    const from = at?.from ?? 0;
    const to = at?.to ?? Math.min(text.indexOf('\n') >>> 0, text.length);
    const where = field ? (at && !at.exact ? `${field} (not in the manifest)` : field) : '';
    return {
      from,
      to: Math.max(from, to),
      line: at?.line ?? 1,
      severity: 'error' as const,
      message: where ? `${where}: ${cause.message}` : cause.message,
      source: 'server' as const,
      field,
    };
  });
}
