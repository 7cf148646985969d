// Apply fix: a dry run shows the workload template's diff, a confirmation names cluster, namespace and workload, then the result with its audit entry.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, describeError } from '../api/client';
import type { Applied, DiagnosisView, FailingPod } from '../api/types';
import { canAudit, FIX_REFUSAL, useMe } from '../auth/user';
import { CopyButton, ErrorText, Spinner } from '../ui/bits';
import { DiffView } from '../ui/DiffView';
import { useShell } from '../ui/shell';

type Step = { kind: 'dry-run' } | { kind: 'confirm'; plan: Applied } | { kind: 'applying'; plan: Applied } | { kind: 'done'; result: Applied } | { kind: 'error'; message: string; plan: Applied | null };

function refusalText(error: unknown): string {
  if (error instanceof ApiError && error.status === 403) return error.message || FIX_REFUSAL;
  return describeError(error);
}

export function ApplyFixDialog({ pod, diagnosis, onDone }: { pod: FailingPod; diagnosis: DiagnosisView; onDone: () => void }) {
  const shell = useShell();
  const me = useMe();
  const [step, setStep] = useState<Step>({ kind: 'dry-run' });
  const path = `/api/fix/${encodeURIComponent(pod.pod)}/apply`;

  useEffect(() => {
    const abort = new AbortController();
    api.post<Applied>(path, undefined, { query: { namespace: pod.namespace, dry_run: true }, signal: abort.signal }).then(
      (plan) => setStep({ kind: 'confirm', plan }),
      (error: unknown) => !abort.signal.aborted && setStep({ kind: 'error', message: refusalText(error), plan: null }),
    );
    return () => abort.abort();
  }, [path, pod.namespace]);

  async function apply(plan: Applied) {
    setStep({ kind: 'applying', plan });
    try {
      const result = await api.post<Applied>(path, undefined, { query: { namespace: pod.namespace } });
      setStep({ kind: 'done', result });
    } catch (error) {
      setStep({ kind: 'error', message: refusalText(error), plan });
    }
  }

  if (step.kind === 'dry-run') return <Spinner label="Dry run: what would change…" />;
  if (step.kind === 'error' && !step.plan) return <ErrorText testId="apply-error">{step.message}</ErrorText>;

  if (step.kind === 'done') {
    const r = step.result;
    return (
      <div class="apply-result" data-testid="apply-result">
        <p class="verdict verdict-good" role="status">
          <strong>Applied</strong> the fix to {r.target} in namespace {pod.namespace} on cluster {r.cluster}.
        </p>
        {r.audit_seq !== null && r.audit_seq !== undefined && !canAudit(me) ? (
          <p data-testid="apply-audit-seq">Recorded as audit entry #{r.audit_seq} (an admin reads it in the Audit tab).</p>
        ) : null}
        {r.audit_seq !== null && r.audit_seq !== undefined && canAudit(me) ? (
          <p>
            Recorded as{' '}
            <a
              href={`#audit=${r.audit_seq}`}
              onClick={(e) => {
                e.preventDefault();
                onDone();
                shell.navigate({ tab: 'audit', seq: r.audit_seq ?? null });
              }}
            >
              audit entry #{r.audit_seq}
            </a>
            .
          </p>
        ) : null}
        <div class="actions">
          <button type="button" class="button" onClick={onDone}>
            Close
          </button>
        </div>
      </div>
    );
  }

  const plan = step.plan!;
  const workload = plan.target;
  return (
    <div class="apply" data-testid="apply-plan">
      <dl class="facts">
        <div>
          <dt>Cluster</dt>
          <dd data-testid="apply-cluster">{plan.cluster}</dd>
        </div>
        <div>
          <dt>Namespace</dt>
          <dd>{pod.namespace}</dd>
        </div>
        <div>
          <dt>Workload</dt>
          <dd>{workload}</dd>
        </div>
        <div>
          <dt>Diagnosis</dt>
          <dd class="small">{diagnosis.suggested_fix}</dd>
        </div>
      </dl>
      <h3>What changes in the pod template (dry run)</h3>
      {plan.diff ? (
        <DiffView diff={plan.diff} label="Template diff" />
      ) : (
        <div class="two-col">
          <pre class="code">{JSON.stringify(plan.before, null, 2)}</pre>
          <pre class="code">{JSON.stringify(plan.after, null, 2)}</pre>
        </div>
      )}
      <div class="command">
        <code>{plan.kubectl_command}</code>
        <CopyButton text={plan.kubectl_command} label="Copy kubectl command" />
      </div>
      <div class="confirm" role="group" aria-label="Confirmation">
        <p>
          This changes the live workload <strong>{workload}</strong> in namespace <strong>{pod.namespace}</strong> on cluster <strong>{plan.cluster}</strong>. Its pods roll over to the new template.
        </p>
        <Proof verification={plan.verified_by ?? diagnosis.verifiedBy ?? null} />
        {step.kind === 'error' ? <ErrorText testId="apply-error">{step.message}</ErrorText> : null}
        <div class="actions">
          <button type="button" class="button" onClick={onDone}>
            Cancel
          </button>
          <button type="button" class="button danger" onClick={() => apply(plan)} disabled={step.kind === 'applying'}>
            {step.kind === 'applying' ? 'Applying…' : `Yes, apply to ${workload} in ${pod.namespace}`}
          </button>
        </div>
      </div>
    </div>
  );
}

/** Whether a mirror proved this fix: said in the confirmation, never assumed. */
function Proof({ verification }: { verification: { mirror: string; verdict: string } | null }) {
  if (!verification) {
    return (
      <p class="refusal" data-testid="apply-proof">
        This fix was never proven on a mirror. Test Fix first, or apply it knowing that nothing has checked it.
      </p>
    );
  }
  const good = verification.verdict === 'Healthy';
  return (
    <p class={good ? 'verdict verdict-good' : 'refusal'} data-testid="apply-proof">
      {good ? 'Proven: ' : 'Not proven: '}mirror {verification.mirror} was {verification.verdict} with this fix.
    </p>
  );
}
