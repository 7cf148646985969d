// Light and dark themes: the system's preference unless the user picked one (remembered in localStorage).
export type Theme = 'light' | 'dark';
const KEY = 'podmirror.theme';

function stored(): Theme | null {
  try {
    const value = localStorage.getItem(KEY);
    return value === 'light' || value === 'dark' ? value : null;
  } catch {
    return null;
  }
}

function systemTheme(): Theme {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

/** The theme in force. */
export function currentTheme(): Theme {
  const forced = document.documentElement.dataset.theme;
  if (forced === 'light' || forced === 'dark') return forced;
  return systemTheme();
}

/** Applies the remembered choice, if any (before the first render). */
export function initTheme(): void {
  const choice = stored();
  if (choice) document.documentElement.dataset.theme = choice;
}

/** Switches to the other theme and remembers it. */
export function toggleTheme(): Theme {
  const next: Theme = currentTheme() === 'dark' ? 'light' : 'dark';
  document.documentElement.dataset.theme = next;
  try {
    localStorage.setItem(KEY, next);
  } catch {
    // not remembered
  }
  window.dispatchEvent(new CustomEvent('podmirror-theme', { detail: next }));
  return next;
}
