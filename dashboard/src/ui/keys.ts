// Keyboard shortcuts of the page: one document listener, none while the user types in a field or the editor.

/** Whether keys pressed here are text being typed (inputs, textareas, selects, CodeMirror and other editable content). */
export function isTypingTarget(target: EventTarget | null): boolean {
  if (!target || !(target instanceof Element)) return false;
  if (target.closest('.cm-editor')) return true;
  const el = target as HTMLElement;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  if (tag === 'INPUT') {
    const type = ((el as HTMLInputElement).type || 'text').toLowerCase();
    return !['checkbox', 'radio', 'button', 'submit', 'reset', 'range', 'color', 'file', 'image'].includes(type);
  }
  return false;
}

export type KeyHandler = (event: KeyboardEvent) => boolean | void;

const handlers: KeyHandler[] = [];
let listening = false;

function onKeyDown(event: KeyboardEvent): void {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (isTypingTarget(event.target)) return;
  // Newest first: a handler that returns true took the key.
  for (let i = handlers.length - 1; i >= 0; i--) {
    if (handlers[i]!(event) === true) {
      event.preventDefault();
      return;
    }
  }
}

/** Adds a handler for keys pressed outside text fields; returns its removal. */
export function addKeyHandler(handler: KeyHandler): () => void {
  handlers.push(handler);
  if (!listening) {
    document.addEventListener('keydown', onKeyDown);
    listening = true;
  }
  return () => {
    const i = handlers.indexOf(handler);
    if (i >= 0) handlers.splice(i, 1);
  };
}

/** Whether a modal dialog is open (page shortcuts then wait). */
export function dialogOpen(): boolean {
  return document.querySelector('[aria-modal="true"]') !== null;
}

export const SHORTCUTS: ReadonlyArray<[string, string]> = [
  ['/', 'Search the failing pods'],
  ['j / k', 'Select the next / previous pod'],
  ['Enter', 'Expand or collapse the selected pod'],
  ['Esc', 'Close the dialog, or collapse the pod'],
  ['?', 'Show these shortcuts'],
];
