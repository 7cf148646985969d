// The sign-in screen: paste a bearer token (or arrive through a `#token=` link), with the server's message after a 401.
import { useState } from 'preact/hooks';
import { looksLikeToken } from './session';

export function SignIn({ message, busy, onSubmit }: { message: string | null; busy: boolean; onSubmit: (token: string) => void }) {
  const [token, setTokenText] = useState('');
  const [hint, setHint] = useState<string | null>(null);
  return (
    <main class="signin">
      <form
        class="signin-card"
        aria-labelledby="signin-title"
        onSubmit={(e) => {
          e.preventDefault();
          const value = token.trim();
          if (!value) {
            setHint('Paste a token first.');
            return;
          }
          setHint(looksLikeToken(value) ? null : 'That does not look like a podmirror token (pm_…); trying anyway.');
          onSubmit(value);
        }}
      >
        <h1 id="signin-title">
          <span class="logo" aria-hidden="true" />
          podmirror
        </h1>
        <p class="muted">Sign in with an API token. <code>podmirror token create --name you --role read</code> makes one; the link that <code>podmirror demo</code> prints signs you in directly.</p>
        {message ? (
          <p class="error-text" role="alert" data-testid="signin-message">
            {message}
          </p>
        ) : null}
        <label class="field">
          <span>API token</span>
          <input
            type="password"
            name="token"
            autoComplete="off"
            spellcheck={false}
            placeholder="pm_…"
            value={token}
            onInput={(e) => setTokenText((e.target as HTMLInputElement).value)}
            autoFocus
          />
        </label>
        {hint ? <p class="muted small">{hint}</p> : null}
        <button type="submit" class="button primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">The token stays in this tab only (session storage) and is sent to this server alone.</p>
      </form>
    </main>
  );
}
