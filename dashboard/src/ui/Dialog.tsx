// A modal dialog: labelled, traps Tab inside, closes on Esc (not while typing) or the close button, and gives the focus back to what opened it.
import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef } from 'preact/hooks';
import { addKeyHandler, isTypingTarget } from './keys';

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"]), [contenteditable="true"]';

function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => el.offsetParent !== null || el === document.activeElement);
}

let titleCounter = 0;

export interface DialogProps {
  title: ComponentChildren;
  onClose: () => void;
  children: ComponentChildren;
  size?: 'small' | 'wide';
  testId?: string;
  /** Accessible name when the title is not plain text. */
  label?: string;
}

export function Dialog({ title, onClose, children, size, testId, label }: DialogProps) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useRef(`dialog-title-${++titleCounter}`).current;
  const close = useRef(onClose);
  close.current = onClose;
  // Whatever opened the dialog gets the focus back when it closes: read at
  // the first render, before the page behind turns inert and drops focus.
  const openerRef = useRef<HTMLElement | null>(
    document.activeElement instanceof HTMLElement && document.activeElement !== document.body ? document.activeElement : null,
  );

  // Layout effects: in place at the commit, so an Esc pressed at once is not lost.
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const opener = openerRef.current;
    // Focus the first field or button that is not the close button, else the dialog.
    const first = focusables(el).find((f) => !f.classList.contains('dialog-close')) ?? el;
    first.focus();
    return () => {
      // After the page behind stops being inert.
      requestAnimationFrame(() => {
        if (opener?.isConnected && !document.querySelector('[aria-modal="true"]')) opener.focus({ preventScroll: true });
      });
    };
  }, []);

  // Esc also when focus fell out of the dialog (a button that turned disabled leaves it on the body).
  useLayoutEffect(
    () =>
      addKeyHandler((event) => {
        if (event.key !== 'Escape') return false;
        const el = ref.current;
        if (!el || el.contains(document.activeElement)) return false;
        close.current();
        return true;
      }),
    [],
  );

  function onKeyDown(event: KeyboardEvent) {
    const el = ref.current;
    if (!el) return;
    if (event.key === 'Escape') {
      if (isTypingTarget(event.target) && !(event.target instanceof HTMLSelectElement)) return;
      event.preventDefault();
      event.stopPropagation();
      close.current();
      return;
    }
    if (event.key !== 'Tab') return;
    const list = focusables(el);
    if (list.length === 0) {
      event.preventDefault();
      el.focus();
      return;
    }
    const firstEl = list[0]!;
    const lastEl = list[list.length - 1]!;
    const active = document.activeElement as HTMLElement | null;
    const inside = active !== null && el.contains(active);
    if (event.shiftKey && (active === firstEl || !inside || active === el)) {
      event.preventDefault();
      lastEl.focus();
    } else if (!event.shiftKey && (active === lastEl || !inside)) {
      event.preventDefault();
      firstEl.focus();
    }
  }

  return (
    <div class="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        ref={ref}
        class={`dialog ${size ? `dialog-${size}` : ''}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={label ? undefined : titleId}
        aria-label={label}
        tabIndex={-1}
        data-testid={testId}
        onKeyDown={onKeyDown}
      >
        <header class="dialog-head">
          <h2 id={titleId}>{title}</h2>
          <button type="button" class="icon-button dialog-close" aria-label="Close" title="Close (Esc)" onClick={onClose}>
            ✕
          </button>
        </header>
        <div class="dialog-body">{children}</div>
      </div>
    </div>
  );
}
