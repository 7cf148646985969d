// Writes a gzip (level 9) copy beside every text asset of the build, for browsers that accept gzip.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync, constants } from 'node:zlib';

const outDir = process.env.DASHBOARD_OUT ?? 'dist';
const compressible = /\.(js|css|html|svg|json)$/;

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

let count = 0;
let raw = 0;
let packed = 0;
for await (const path of files(outDir)) {
  if (!compressible.test(path)) continue;
  const body = await readFile(path);
  const gz = gzipSync(body, { level: constants.Z_BEST_COMPRESSION });
  await writeFile(`${path}.gz`, gz);
  count += 1;
  raw += body.length;
  packed += gz.length;
}
console.log(`compress: ${count} files in ${outDir}, ${(raw / 1024).toFixed(1)} KiB → ${(packed / 1024).toFixed(1)} KiB gzipped`);
