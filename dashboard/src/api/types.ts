// Names for the API's types, all taken from the generated schema.d.ts (npm run gen), plus the SSE payloads built from them.
import type { components, paths } from './schema';

type Schemas = components['schemas'];

type JsonOf<R> = R extends { content: { 'application/json': infer T } } ? T : never;
/** The JSON body of a path's successful answer (200, else 201). */
type Ok<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends { responses: infer R }
  ? R extends { 200: infer A }
    ? JsonOf<A>
    : R extends { 201: infer A }
      ? JsonOf<A>
      : never
  : never;
/** The JSON body a path accepts. */
type Body<P extends keyof paths, M extends keyof paths[P]> = paths[P][M] extends {
  requestBody?: { content: { 'application/json': infer T } };
}
  ? T
  : never;

export type Me = Ok<'/api/auth/me', 'get'>;
export type Role = Me['role'];
export type FailingPod = Schemas['FailingPod'];
export type MirrorRef = FailingPod['mirrors'][number];
export type DiagnosisSummary = NonNullable<FailingPod['diagnosis']>;
export type PodDetail = Ok<'/api/pods/{pod_id}', 'get'>;
export type ContainerView = PodDetail['containers'][number];
export type EventView = PodDetail['events'][number];
export type PodLogs = Ok<'/api/pods/{pod_id}/logs', 'get'>;
export type DiagnosisView = Ok<'/api/diagnosis/{pod}', 'get'>;
export type DiagnoseResult = Ok<'/api/diagnosis/{pod}', 'post'>;
export type Preview = Ok<'/api/mirror/preview/{pod_id}', 'post'>;
export type DeployRequest = Body<'/api/mirror/deploy/{pod_id}', 'post'>;
export type MirrorStatus = Ok<'/api/mirror/status/{mirror_id}', 'get'>;
export type MirrorFailure = NonNullable<MirrorStatus['failure']>;
export type Deleted = Ok<'/api/mirror/{mirror_id}', 'delete'>;
export type ExtendRequest = Body<'/api/mirror/{mirror_id}/extend', 'post'>;
export type MirrorTtl = Ok<'/api/admin/settings/mirror-ttl', 'get'>;
export type Applied = Ok<'/api/fix/{pod}/apply', 'post'>;
export type AuditEntry = Ok<'/api/audit', 'get'>[number];
export type AuditVerify = Ok<'/api/audit/verify', 'get'>;
export type ErrorBody = Schemas['ErrorBody'];
export type Cause = NonNullable<ErrorBody['causes']>[number];
/** One JSON Patch operation on a PodSpec. */
export type PatchOp = NonNullable<DeployRequest['patch']>[number];

// text/event-stream answers have no JSON schema in the document; their payloads are made of the types above.

/** `GET /api/pods/failing/events`: `snapshot` first. */
export interface FailingSnapshot {
  now: string;
  pods: FailingPod[];
}
/** … then `update` on every change. */
export interface FailingUpdate {
  now: string;
  upsert: FailingPod[];
  remove: string[];
}
/** `GET /api/mirror/status/{id}/events`: `events` when the mirror's events change. */
export interface MirrorEvents {
  events: EventView[];
}
/** `GET /api/mirror/active/events`: `mirrors` on each change. */
export interface ActiveMirrors {
  now: string;
  mirrors: MirrorStatus[];
}
