// Build and test configuration of the dashboard: Preact JSX through oxc, output in DASHBOARD_OUT.
import { defineConfig } from 'vitest/config';

const outDir = process.env.DASHBOARD_OUT ?? 'dist';

export default defineConfig({
  base: '/',
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    // `npm run dev` against a running `podmirror serve`: PODMIRROR_API=http://127.0.0.1:8080
    proxy: process.env.PODMIRROR_API ? { '/api': { target: process.env.PODMIRROR_API, changeOrigin: true } } : undefined,
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
