// Generates src/api/schema.d.ts from docs/openapi.json, rewriting the file only when its text changes (so a build does not look like an edit).
import { readFile, writeFile } from 'node:fs/promises';
import openapiTS, { astToString } from 'openapi-typescript';

const target = new URL('../src/api/schema.d.ts', import.meta.url);
const spec = JSON.parse(await readFile(new URL('../../docs/openapi.json', import.meta.url), 'utf8'));
const text = `// Generated from docs/openapi.json by scripts/gen-types.mjs (npm run gen); do not edit.\n${astToString(await openapiTS(spec, { defaultNonNullable: false }))}`;
let old = null;
try {
  old = await readFile(target, 'utf8');
} catch {
  // first generation
}
if (old !== text) await writeFile(target, text);
