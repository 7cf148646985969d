// Maps a Kubernetes field path of a dry-run refusal (`spec.containers[0].image`) to its place in the manifest's YAML text.
import { isMap, isPair, isScalar, isSeq, parseDocument, type Node as YamlNode } from 'yaml';

export type PathSegment = string | number;

/**
 * Splits a field path as the API server writes them: dots between names,
 * `[0]` for a list index, `[key]` (or `["key"]`) for a map key that may hold dots.
 */
export function parseFieldPath(path: string): PathSegment[] {
  const out: PathSegment[] = [];
  let i = 0;
  let name = '';
  const flush = () => {
    if (name) out.push(name);
    name = '';
  };
  while (i < path.length) {
    const c = path[i]!;
    if (c === '.') {
      flush();
      i++;
    } else if (c === '[') {
      flush();
      const close = findClose(path, i);
      let inner = path.slice(i + 1, close).trim();
      i = close + 1;
      if ((inner.startsWith('"') && inner.endsWith('"')) || (inner.startsWith("'") && inner.endsWith("'"))) {
        out.push(inner.slice(1, -1));
      } else if (/^\d+$/.test(inner)) {
        out.push(Number(inner));
      } else {
        out.push(inner);
      }
      inner = '';
    } else {
      name += c;
      i++;
    }
  }
  flush();
  return out;
}

function findClose(path: string, open: number): number {
  const quote = path[open + 1];
  if (quote === '"' || quote === "'") {
    const end = path.indexOf(quote, open + 2);
    if (end >= 0 && path[end + 1] === ']') return end + 1;
  }
  const close = path.indexOf(']', open);
  return close < 0 ? path.length : close;
}

export interface FieldLocation {
  /** 1-based line of the field (its key, or its list item). */
  line: number;
  /** Offsets in the text: the field's key through its value. */
  from: number;
  to: number;
  /** False when only an ancestor was found (the field itself is absent). */
  exact: boolean;
  /** How many segments of the path were found. */
  depth: number;
}

/** The 1-based line of an offset. */
export function lineOf(text: string, offset: number): number {
  let line = 1;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

type Span = { from: number; to: number };

function rangeOf(node: unknown): Span | null {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range ? { from: range[0], to: range[1] } : null;
}

function walk(root: unknown, segments: PathSegment[]): { span: Span | null; depth: number } {
  let node: unknown = root;
  let span: Span | null = null;
  let depth = 0;
  for (const segment of segments) {
    if (isMap(node)) {
      const key = String(segment);
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && String(item.key.value) === key);
      if (!pair) break;
      const keySpan = rangeOf(pair.key);
      const valueSpan = rangeOf(pair.value);
      if (keySpan) span = { from: keySpan.from, to: valueSpan && isScalar(pair.value) ? valueSpan.to : keySpan.to };
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (item === undefined) break;
      const itemSpan = rangeOf(item);
      if (itemSpan) span = isScalar(item) ? itemSpan : { from: itemSpan.from, to: itemSpan.from };
      node = item;
    } else {
      break;
    }
    depth++;
  }
  return { span, depth };
}

/**
 * Where a field path points in a YAML manifest. Paths relative to the pod
 * spec (`containers[0].image`) are tried under `spec` too. When the field
 * is absent, the deepest ancestor that exists is given (`exact: false`);
 * null when the text has no mapping at all.
 */
export function locateField(text: string, path: string): FieldLocation | null {
  const doc = parseDocument(text, { keepSourceTokens: false, prettyErrors: false, uniqueKeys: false });
  const root = doc.contents as YamlNode | null;
  if (!root || !isMap(root)) return null;
  const segments = parseFieldPath(path);
  if (segments.length === 0) return null;

  let best = walk(root, segments);
  if (best.depth < segments.length && segments[0] !== 'spec') {
    const underSpec = walk(root, ['spec', ...segments]);
    if (underSpec.depth - 1 > best.depth) best = { span: underSpec.span, depth: underSpec.depth - 1 };
  }
  const span = best.span ?? rangeOf(root.items[0]?.key) ?? { from: 0, to: 0 };
  return { line: lineOf(text, span.from), from: span.from, to: Math.max(span.to, span.from), exact: best.depth === segments.length, depth: best.depth };
}
