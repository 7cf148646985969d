// The signed-in user (GET /api/auth/me) and what the page shows them; the API stays the authority.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Me } from '../api/types';

export const UserContext = createContext<Me | null>(null);

export function useMe(): Me {
  const me = useContext(UserContext);
  if (!me) throw new Error('useMe outside a signed-in page');
  return me;
}

const RANK = { read: 0, write: 1, admin: 2 } as const;

function atLeast(me: Me, role: keyof typeof RANK): boolean {
  return (RANK[me.role as keyof typeof RANK] ?? -1) >= RANK[role];
}

/** Deploy, delete and extend mirrors. */
export const canDeploy = (me: Me) => atLeast(me, 'admin');
/** Ask for a diagnosis now. */
export const canDiagnose = (me: Me) => atLeast(me, 'write');
/** The Audit tab. */
export const canAudit = (me: Me) => atLeast(me, 'admin');
/** Admin → Settings. */
export const canChangeSettings = (me: Me) => atLeast(me, 'admin');

/** The API's exact refusal for a role that may not apply fixes. */
export const FIX_REFUSAL = 'Fix application is disabled for your role. Contact your platform admin.';
