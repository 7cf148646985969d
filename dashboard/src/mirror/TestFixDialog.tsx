// Test Fix: the fixed mirror manifest beside the source (a diff), Edit Manifest in CodeMirror with YAML and dry-run errors at their place, TTL and options, Deploy.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, describeError, seg } from '../api/client';
import type { DeployRequest, DiagnosisView, FailingPod, MirrorStatus, MirrorTtl, PatchOp, Preview } from '../api/types';
import { useMe } from '../auth/user';
import { ErrorText, Spinner } from '../ui/bits';
import { DiffView } from '../ui/DiffView';
import { createManifestEditor, type ManifestEditor } from './editor';
import type { Problem } from './problems';

export interface TestFixProps {
  pod: FailingPod;
  /** The diagnosis, with the candidate to test as its own fix. */
  diagnosis: DiagnosisView;
  /** Which of the diagnosis's candidates it is (the verdict is recorded on it). */
  candidate?: number;
  /** Read users see the preview only. */
  readOnly: boolean;
  onCancel: () => void;
  onDeployed: (id: string) => void;
}

interface Options {
  strip_probes: boolean;
  scale_down: boolean;
  keep_labels: boolean;
}

/** What a deploy or a check sends: the edited manifest when there is one, else the diagnosis's patch. */
export function requestBody(diagnosis: DiagnosisView, edited: string | null, options: Options, ttl: number | null, candidate?: number): DeployRequest {
  const body: DeployRequest = { ...options, diagnosis_id: diagnosis.id };
  if (candidate !== undefined) body.candidate = candidate;
  if (edited !== null) body.manifest = edited;
  else body.patch = (diagnosis.patch ?? []) as PatchOp[];
  if (ttl !== null) body.ttl_seconds = ttl;
  return body;
}

/** Whether a TTL the field holds is one the API accepts. */
export function ttlProblem(text: string, min: number, max: number): string | null {
  if (!/^\d+$/.test(text.trim())) return `Give the TTL in whole seconds, ${min} to ${max}.`;
  const n = Number(text);
  if (n < min || n > max) return `The TTL must be ${min} to ${max} seconds.`;
  return null;
}

const OPTION_TEXT: Array<[keyof Options, string, string]> = [
  ['strip_probes', 'Strip probes', 'Remove liveness, readiness and startup probes; leave them when the fix is a probe fix, since readiness is part of the verdict.'],
  ['scale_down', 'Scale down', 'Scale the source Deployment to 0 while the mirror runs (it comes back when the mirror goes); for apps that must run alone.'],
  ['keep_labels', 'Keep labels', "Keep the source's labels, so its Services send the mirror real traffic; off, nothing selects the mirror."],
];

export function TestFixBody({ pod, diagnosis, candidate, readOnly, onCancel, onDeployed }: TestFixProps) {
  const me = useMe();
  const [options, setOptions] = useState<Options>({ strip_probes: false, scale_down: false, keep_labels: false });
  const [preview, setPreview] = useState<Preview | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [editing, setEditing] = useState(false);
  const [edited, setEdited] = useState<string | null>(null);
  const [problems, setProblems] = useState<Problem[]>([]);
  const [ttlText, setTtlText] = useState('');
  const [checking, setChecking] = useState(false);
  const [checkNote, setCheckNote] = useState<string | null>(null);
  const [deploying, setDeploying] = useState(false);
  const [deployError, setDeployError] = useState<string | null>(null);
  const editorHost = useRef<HTMLDivElement>(null);
  const editor = useRef<ManifestEditor | null>(null);
  const narrow = useMemo(() => window.matchMedia?.('(max-width: 760px)').matches ?? false, []);
  const podPath = `/api/mirror/preview/${seg(pod.pod_id)}`;

  // The admin's default TTL, for the field.
  useEffect(() => {
    if (readOnly) return;
    api.get<MirrorTtl>('/api/admin/settings/mirror-ttl').then(
      (t) => setTtlText((current) => current || String(t.ttl_seconds)),
      () => setTtlText((current) => current || '180'),
    );
  }, [readOnly]);

  // The preview of the diagnosed fix, again when an option changes (while nothing is edited).
  useEffect(() => {
    if (edited !== null) return;
    const abort = new AbortController();
    setLoadError(null);
    api.post<Preview>(podPath, requestBody(diagnosis, null, options, null), { signal: abort.signal }).then(
      (p) => !abort.signal.aborted && setPreview(p),
      (error: unknown) => {
        if (abort.signal.aborted) return;
        setLoadError(error instanceof ApiError && error.status === 404 ? `${error.message} The pod may have been replaced: close this and pick it again from the list.` : describeError(error));
      },
    );
    return () => abort.abort();
  }, [podPath, diagnosis.id, candidate, options.strip_probes, options.keep_labels, options.scale_down]);

  // The editor, made once the preview is here; its documents follow the preview while nothing is edited.
  useEffect(() => {
    const host = editorHost.current;
    if (!host || !preview) return;
    if (!editor.current) {
      editor.current = createManifestEditor(host, {
        source: preview.source_yaml,
        mirror: preview.mirror_yaml,
        unified: narrow,
        onProblems: setProblems,
        onChange: (text) => {
          setEdited(text);
          setCheckNote(null);
        },
      });
    } else if (edited === null) {
      editor.current.setDocs(preview.source_yaml, preview.mirror_yaml);
    }
  }, [preview]);

  useEffect(() => () => editor.current?.destroy(), []);

  function startEditing() {
    setEditing(true);
    editor.current?.setEditable(true);
  }

  function resetEdits() {
    setEdited(null);
    setEditing(false);
    setCheckNote(null);
    editor.current?.setEditable(false);
    if (preview) editor.current?.setDocs(preview.source_yaml, preview.mirror_yaml);
  }

  const yamlErrors = problems.filter((p) => p.source === 'yaml' && p.severity === 'error');
  const serverErrors = problems.filter((p) => p.source === 'server');
  const ttlError = readOnly ? null : ttlProblem(ttlText, me.minTtlSeconds, me.maxTtlSeconds);

  /** The API server's dry run of the edited manifest: its refusals go to their fields. */
  async function check(): Promise<boolean> {
    if (edited === null) return true;
    setChecking(true);
    setCheckNote(null);
    try {
      const p = await api.post<Preview>(podPath, requestBody(diagnosis, edited, options, null));
      editor.current?.setServerCauses([]);
      setCheckNote(`The API server accepts this manifest (dry run); ${p.diff ? 'the diff below is what differs from the source' : 'it matches the source'}.`);
      setPreview((old) => (old ? { ...old, diff: p.diff, manifest: p.manifest } : p));
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.causes.length > 0) {
        editor.current?.setServerCauses(error.causes);
        setCheckNote(null);
        setDeployError(`The API server refused the manifest: ${error.message}`);
      } else {
        setDeployError(describeError(error));
      }
      return false;
    } finally {
      setChecking(false);
    }
  }

  async function deploy() {
    setDeployError(null);
    if (yamlErrors.length > 0) {
      setDeployError('Fix the YAML errors marked in the editor first.');
      if (yamlErrors[0]) editor.current?.focusLine(yamlErrors[0].line);
      return;
    }
    if (ttlError) {
      setDeployError(ttlError);
      return;
    }
    if (!(await check())) return;
    setDeploying(true);
    try {
      const status = await api.post<MirrorStatus>(`/api/mirror/deploy/${seg(pod.pod_id)}`, requestBody(diagnosis, edited, options, Number(ttlText), candidate));
      onDeployed(status.id);
    } catch (error) {
      if (error instanceof ApiError && error.causes.length > 0) editor.current?.setServerCauses(error.causes);
      setDeployError(describeError(error));
      setDeploying(false);
    }
  }

  return (
    <div class="testfix" data-testid="testfix">
      <p class="muted">
        A disposable copy of <strong>{pod.pod}</strong> runs with the fix in namespace <strong>{pod.namespace}</strong>; nothing else changes. {diagnosis.suggested_fix}
      </p>
      {loadError ? <ErrorText testId="preview-error">{loadError}</ErrorText> : null}
      {!preview && !loadError ? <Spinner label="Preparing the mirror manifest (dry run)…" /> : null}
      {preview ? (
        <>
          <div class="editor-bar">
            <span class="editor-labels">
              <span>Source (runtime fields removed)</span>
              <span>Mirror{edited !== null ? ' (edited)' : ''}</span>
            </span>
            {!readOnly ? (
              editing ? (
                <span class="editor-actions">
                  <button type="button" class="button small" onClick={() => void check()} disabled={checking || edited === null || yamlErrors.length > 0}>
                    {checking ? 'Checking…' : 'Check with the API server'}
                  </button>
                  <button type="button" class="button small ghost" onClick={resetEdits}>
                    Undo all edits
                  </button>
                </span>
              ) : (
                <button type="button" class="button small" onClick={startEditing} data-testid="edit-manifest">
                  Edit Manifest
                </button>
              )
            ) : null}
          </div>
          <div class={`editor-host${narrow ? ' unified' : ''}`} ref={editorHost} data-testid="manifest-editor" />
          <ul class="problems" data-testid="problems" aria-live="polite">
            {problems.map((p, i) => (
              <li key={i} class={p.source === 'server' ? 'problem-server' : 'problem-yaml'}>
                <button type="button" class="link" onClick={() => editor.current?.focusLine(p.line)}>
                  line {p.line}
                </button>{' '}
                {p.source === 'server' ? 'API server: ' : 'YAML: '}
                {p.message}
              </li>
            ))}
          </ul>
          {checkNote && serverErrors.length === 0 ? (
            <p class="note" role="status" data-testid="check-note">
              {checkNote}
            </p>
          ) : null}
          <details class="diff-details">
            <summary>Unified diff (source → mirror)</summary>
            <DiffView diff={preview.diff} label="Source to mirror diff" />
          </details>
        </>
      ) : null}
      {!readOnly ? (
        <fieldset class="deploy-options">
          <legend>Mirror options</legend>
          <label class="field ttl">
            <span>TTL (seconds)</span>
            <input
              type="number"
              inputMode="numeric"
              min={me.minTtlSeconds}
              max={me.maxTtlSeconds}
              step={1}
              value={ttlText}
              aria-invalid={ttlError !== null}
              aria-describedby="ttl-help"
              onInput={(e) => setTtlText((e.target as HTMLInputElement).value)}
              data-testid="ttl"
            />
            <span id="ttl-help" class={ttlError ? 'error-text small' : 'muted small'}>
              {ttlError ?? `Deleted after this long: ${me.minTtlSeconds}–${me.maxTtlSeconds} s.`}
            </span>
          </label>
          {OPTION_TEXT.map(([key, label, help]) => (
            <label key={key} class="check">
              <input
                type="checkbox"
                checked={options[key]}
                disabled={key === 'scale_down' && !(pod.owner ?? '').startsWith('ReplicaSet/')}
                onChange={(e) => setOptions((o) => ({ ...o, [key]: (e.target as HTMLInputElement).checked }))}
                data-testid={`opt-${key}`}
              />
              <span>
                <strong>{label}</strong> <span class="muted small">{help}</span>
              </span>
            </label>
          ))}
        </fieldset>
      ) : (
        <p class="muted small" data-testid="read-only-note">
          Your role may preview fixes; an admin deploys mirrors.
        </p>
      )}
      {deployError ? <ErrorText testId="deploy-error">{deployError}</ErrorText> : null}
      <div class="actions">
        <button type="button" class="button" onClick={onCancel}>
          {readOnly ? 'Close' : 'Cancel'}
        </button>
        {!readOnly ? (
          <button type="button" class="button primary" onClick={() => void deploy()} disabled={!preview || deploying || checking} data-testid="deploy">
            {deploying ? 'Deploying…' : 'Deploy'}
          </button>
        ) : null}
      </div>
    </div>
  );
}
