// Admin → Settings: the default mirror TTL (30–3600 s), a number input and a slider; the API's refusal shown as it came.
import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from '../api/client';
import type { MirrorTtl } from '../api/types';
import { ErrorText, Spinner } from '../ui/bits';
import { formatCountdown } from '../ui/time';

export const TTL_MIN = 30;
export const TTL_MAX = 3600;

export function SettingsTab() {
  const [saved, setSaved] = useState<number | null>(null);
  const [value, setValue] = useState('');
  const [loadError, setLoadError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.get<MirrorTtl>('/api/admin/settings/mirror-ttl').then(
      (s) => {
        setSaved(s.ttl_seconds);
        setValue(String(s.ttl_seconds));
      },
      (e: unknown) => setLoadError(describeError(e)),
    );
  }, []);

  async function save(e: Event) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      // Sent as typed: the API decides what it accepts, and its refusal is shown as it came.
      const number = Number(value);
      const body = { ttl_seconds: value.trim() !== '' && Number.isFinite(number) ? number : value };
      const result = await api.put<MirrorTtl>('/api/admin/settings/mirror-ttl', body);
      setSaved(result.ttl_seconds);
      setValue(String(result.ttl_seconds));
      setNotice(`Saved: new mirrors live ${formatCountdown(result.ttl_seconds)} unless their request says otherwise.`);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  const slider = Math.min(TTL_MAX, Math.max(TTL_MIN, Number(value) || TTL_MIN));

  return (
    <section aria-label="Settings">
      <h2 class="panel-title">Settings</h2>
      {loadError ? <ErrorText>{loadError}</ErrorText> : null}
      {saved === null && !loadError ? (
        <Spinner />
      ) : (
        <form class="card settings" onSubmit={save} noValidate>
          <h3>Mirror TTL</h3>
          <p class="muted">How long a mirror lives before the reaper deletes it, unless its request asks for another TTL: {TTL_MIN} to {TTL_MAX} seconds (default 180).</p>
          <div class="ttl-row">
            <label class="field">
              <span>TTL (seconds)</span>
              <input
                type="number"
                name="ttl"
                min={TTL_MIN}
                max={TTL_MAX}
                step={1}
                value={value}
                onInput={(e) => setValue((e.target as HTMLInputElement).value)}
              />
            </label>
            <input
              type="range"
              aria-label="TTL slider"
              min={TTL_MIN}
              max={TTL_MAX}
              step={15}
              value={slider}
              onInput={(e) => setValue((e.target as HTMLInputElement).value)}
            />
            <span class="muted">{Number(value) > 0 ? formatCountdown(Number(value)) : ''}</span>
          </div>
          <div class="actions">
            <button type="submit" class="button primary" disabled={busy}>
              {busy ? 'Saving…' : 'Save'}
            </button>
            {saved !== null ? <span class="muted small">Current: {saved} s</span> : null}
          </div>
          {error ? <ErrorText testId="settings-error">{error}</ErrorText> : null}
          {notice ? (
            <p class="notice" role="status" data-testid="settings-saved">
              {notice}
            </p>
          ) : null}
        </form>
      )}
    </section>
  );
}
