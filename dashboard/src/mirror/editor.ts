// The manifest diff and editor (CodeMirror 6, loaded on demand): source beside mirror, the right side editable, problems inline.
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { HighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { yaml } from '@codemirror/lang-yaml';
import { forceLinting, linter, lintGutter, type Diagnostic } from '@codemirror/lint';
import { MergeView, unifiedMergeView } from '@codemirror/merge';
import { Compartment, EditorState, type Extension } from '@codemirror/state';
import { drawSelection, EditorView, highlightActiveLine, highlightActiveLineGutter, keymap, lineNumbers } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';
import type { Cause } from '../api/types';
import { causeProblems, yamlProblems, type Problem } from './problems';

export interface ManifestEditor {
  /** Replaces both sides (the editor's edits are dropped). */
  setDocs(source: string, mirror: string): void;
  setEditable(editable: boolean): void;
  getText(): string;
  /** The server's dry-run causes, shown at their fields until the next check. */
  setServerCauses(causes: readonly Cause[]): void;
  focusLine(line: number): void;
  destroy(): void;
}

export interface ManifestEditorOptions {
  source: string;
  mirror: string;
  /** One column with the changes inline (narrow screens) instead of side by side. */
  unified: boolean;
  onProblems(problems: Problem[]): void;
  onChange?(text: string): void;
}

const highlight = HighlightStyle.define([
  { tag: [t.propertyName, t.definition(t.propertyName)], color: 'var(--syn-key)' },
  { tag: [t.string, t.special(t.string)], color: 'var(--syn-string)' },
  { tag: [t.number, t.bool, t.null, t.atom], color: 'var(--syn-number)' },
  { tag: [t.comment, t.lineComment], color: 'var(--syn-comment)', fontStyle: 'italic' },
  { tag: [t.keyword, t.meta, t.typeName, t.labelName], color: 'var(--syn-meta)' },
  { tag: [t.punctuation, t.separator, t.squareBracket, t.brace], color: 'var(--muted)' },
]);

const theme = EditorView.theme({
  '&': { backgroundColor: 'var(--code-bg)', color: 'var(--fg)', fontSize: '13px', height: '100%' },
  '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.5' },
  '.cm-content': { caretColor: 'var(--fg)' },
  '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--fg)' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection': { backgroundColor: 'var(--selection)' },
  '.cm-gutters': { backgroundColor: 'var(--code-gutter)', color: 'var(--muted)', borderRight: '1px solid var(--border)' },
  '.cm-activeLine': { backgroundColor: 'var(--active-line)' },
  '.cm-activeLineGutter': { backgroundColor: 'var(--active-line)' },
  '.cm-tooltip': { backgroundColor: 'var(--surface)', color: 'var(--fg)', border: '1px solid var(--border)' },
  '.cm-diagnostic-error': { borderLeftColor: 'var(--bad)' },
  '.cm-diagnostic-warning': { borderLeftColor: 'var(--warn)' },
});

export function createManifestEditor(parent: HTMLElement, options: ManifestEditorOptions): ManifestEditor {
  let causes: readonly Cause[] = [];
  let editable = false;
  const editability = new Compartment();

  const lint = linter(
    (view): Diagnostic[] => {
      const text = view.state.doc.toString();
      const problems = [...(editable ? yamlProblems(text) : []), ...causeProblems(text, causes)];
      options.onProblems(problems);
      const length = view.state.doc.length;
      return problems.map((p) => ({
        from: Math.min(p.from, length),
        to: Math.min(Math.max(p.to, p.from), length),
        severity: p.severity,
        message: p.message,
        source: p.source === 'yaml' ? 'YAML' : 'dry run',
      }));
    },
    { delay: 300 },
  );

  const editableExtensions = (on: boolean): Extension => [EditorView.editable.of(on), EditorState.readOnly.of(!on)];

  const common: Extension = [lineNumbers(), highlightActiveLineGutter(), drawSelection(), syntaxHighlighting(highlight), yaml(), theme];

  const mirrorExtensions = (): Extension => [
    ...[common],
    history(),
    indentOnInput(),
    highlightActiveLine(),
    keymap.of([...defaultKeymap, ...historyKeymap]),
    editability.of(editableExtensions(editable)),
    lintGutter(),
    lint,
    EditorView.contentAttributes.of({ 'aria-label': 'Mirror manifest (YAML)' }),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) options.onChange?.(u.state.doc.toString());
    }),
  ];

  let merge: MergeView | null = null;
  let single: EditorView | null = null;

  function build(source: string, mirror: string) {
    destroyViews();
    if (options.unified) {
      single = new EditorView({
        parent,
        state: EditorState.create({
          doc: mirror,
          extensions: [mirrorExtensions(), unifiedMergeView({ original: source, mergeControls: false, highlightChanges: true, gutter: true })],
        }),
      });
    } else {
      merge = new MergeView({
        parent,
        a: {
          doc: source,
          extensions: [common, EditorView.editable.of(false), EditorState.readOnly.of(true), EditorView.contentAttributes.of({ 'aria-label': 'Source manifest (YAML, read-only)' })],
        },
        b: { doc: mirror, extensions: mirrorExtensions() },
        highlightChanges: true,
        gutter: true,
      });
    }
  }

  function destroyViews() {
    merge?.destroy();
    single?.destroy();
    merge = null;
    single = null;
  }

  const view = (): EditorView => (merge ? merge.b : single!);

  build(options.source, options.mirror);

  return {
    setDocs(source, mirror) {
      causes = [];
      build(source, mirror);
      options.onProblems([]);
    },
    setEditable(on) {
      editable = on;
      view().dispatch({ effects: editability.reconfigure(editableExtensions(on)) });
      forceLinting(view());
      if (on) view().focus();
    },
    getText() {
      return view().state.doc.toString();
    },
    setServerCauses(next) {
      causes = next;
      forceLinting(view());
    },
    focusLine(line) {
      const v = view();
      const at = v.state.doc.line(Math.min(Math.max(1, line), v.state.doc.lines));
      v.dispatch({ selection: { anchor: at.from }, scrollIntoView: true });
      v.focus();
    },
    destroy: destroyViews,
  };
}
