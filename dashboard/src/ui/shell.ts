// The page shell's services for the screens: which dialog is open, and navigation to a tab.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { DiagnosisView, FailingPod } from '../api/types';

export type DialogRequest =
  | { kind: 'testfix'; pod: FailingPod; diagnosis: DiagnosisView; readOnly: boolean; candidate?: number }
  | { kind: 'mirror'; id: string }
  | { kind: 'apply'; pod: FailingPod; diagnosis: DiagnosisView }
  | { kind: 'help' };

export type Tab = 'pods' | 'mirrors' | 'audit' | 'admin';

export interface Route {
  tab: Tab;
  /** Audit entry to scroll to and highlight (`#audit=12`). */
  seq: number | null;
}

/** Reads the tab from the URL fragment: `#pods`, `#mirrors`, `#audit`, `#audit=12`, `#admin`. */
export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, '');
  const [name, value] = text.split('=');
  switch (name) {
    case 'mirrors':
      return { tab: 'mirrors', seq: null };
    case 'audit': {
      const seq = value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
      return { tab: 'audit', seq };
    }
    case 'admin':
      return { tab: 'admin', seq: null };
    default:
      return { tab: 'pods', seq: null };
  }
}

export function routeHash(route: Route): string {
  if (route.tab === 'audit' && route.seq !== null) return `#audit=${route.seq}`;
  return `#${route.tab}`;
}

export interface Shell {
  openDialog(request: DialogRequest): void;
  closeDialog(): void;
  navigate(route: Route): void;
}

export const ShellContext = createContext<Shell>({
  openDialog: () => {},
  closeDialog: () => {},
  navigate: () => {},
});

export function useShell(): Shell {
  return useContext(ShellContext);
}
