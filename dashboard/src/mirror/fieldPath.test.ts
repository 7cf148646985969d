// Tests of the field path → YAML line mapper and of the editor's problem lists.
import { describe, expect, it } from 'vitest';
import { lineOf, locateField, parseFieldPath } from './fieldPath';
import { causeProblems, yamlProblems } from './problems';

const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: api-mirror-x1y2z
  labels:
    app.kubernetes.io/name: api
spec:
  initContainers:
  - name: migrate
    image: registry.example.com/shop/migrate:1.0
  containers:
  - name: api
    image: registry.example.com/shop/api:1.4.1
    env:
    - name: DATABASE_URL
      value: postgres://shop@db:5432/shop
  - name: sidecar
    image: ""
    resources:
      limits: {memory: 64Mi}
`;

describe('parseFieldPath', () => {
  it('splits names, indexes and bracketed keys', () => {
    expect(parseFieldPath('spec.containers[0].image')).toEqual(['spec', 'containers', 0, 'image']);
    expect(parseFieldPath('metadata.labels[app.kubernetes.io/name]')).toEqual(['metadata', 'labels', 'app.kubernetes.io/name']);
    expect(parseFieldPath('metadata.annotations["a.b/c"]')).toEqual(['metadata', 'annotations', 'a.b/c']);
    expect(parseFieldPath('spec.containers[1].env[0].valueFrom.secretKeyRef.key')).toEqual(['spec', 'containers', 1, 'env', 0, 'valueFrom', 'secretKeyRef', 'key']);
    expect(parseFieldPath('')).toEqual([]);
  });
});

describe('locateField', () => {
  const line = (path: string) => locateField(manifest, path)?.line;

  it('finds a scalar field in a list item', () => {
    expect(line('spec.containers[0].image')).toBe(13);
    expect(line('spec.containers[1].image')).toBe(18);
    const at = locateField(manifest, 'spec.containers[0].image')!;
    expect(manifest.slice(at.from, at.to)).toBe('image: registry.example.com/shop/api:1.4.1');
    expect(at.exact).toBe(true);
  });

  it('finds list items, nested lists and maps', () => {
    expect(line('spec.containers[1]')).toBe(17);
    expect(line('spec.containers[0].env[0].value')).toBe(16);
    expect(line('spec.initContainers[0].image')).toBe(10);
    expect(line('spec.containers[1].resources.limits.memory')).toBe(20);
    expect(line('metadata.labels[app.kubernetes.io/name]')).toBe(6);
    expect(line('metadata.name')).toBe(4);
  });

  it('falls back to the deepest ancestor when the field is absent', () => {
    const at = locateField(manifest, 'spec.containers[0].resources.requests.cpu')!;
    expect(at.line).toBe(12);
    expect(at.exact).toBe(false);
    expect(locateField(manifest, 'spec.containers[5].image')!.line).toBe(11);
    expect(locateField(manifest, 'status.phase')!.line).toBe(1);
  });

  it('takes paths relative to the pod spec', () => {
    expect(line('containers[0].image')).toBe(13);
  });

  it('is null without a mapping', () => {
    expect(locateField('', 'spec')).toBeNull();
    expect(locateField('- a\n- b\n', 'spec')).toBeNull();
  });

  it('counts lines from 1', () => {
    expect(lineOf('a\nb\nc', 0)).toBe(1);
    expect(lineOf('a\nb\nc', 2)).toBe(2);
    expect(lineOf('a\nb\nc', 4)).toBe(3);
  });
});

describe('problems', () => {
  it('puts a YAML syntax error at its line', () => {
    const broken = manifest.replace('kind: Pod\n', 'kind: Pod\nbroken: [1, 2\n');
    const problems = yamlProblems(broken);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]!.severity).toBe('error');
    expect(problems[0]!.line).toBeGreaterThanOrEqual(3);
    expect(problems[0]!.line).toBeLessThanOrEqual(4);
    expect(problems[0]!.message).not.toMatch(/\n/);
  });

  it('finds an unclosed quote and a bad indent', () => {
    const quote = yamlProblems('apiVersion: v1\nkind: "Pod\nspec: {}\n');
    expect(quote[0]?.line).toBe(2);
    const indent = yamlProblems('a: 1\n b: 2\n');
    expect(indent.length).toBeGreaterThan(0);
  });

  it('has no problems for a valid manifest, one for a non-mapping', () => {
    expect(yamlProblems(manifest)).toEqual([]);
    expect(yamlProblems('just text')[0]!.message).toMatch(/mapping/);
  });

  it('places the server causes at their fields', () => {
    const [p] = causeProblems(manifest, [{ field: 'spec.containers[1].image', message: 'Required value' }]);
    expect(p!.line).toBe(18);
    expect(p!.message).toBe('spec.containers[1].image: Required value');
    expect(p!.source).toBe('server');
  });
});
