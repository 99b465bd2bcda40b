import { defineConfig } from 'vite';

/**
 * Builds the dashboard into `dist/web`, where `ferry server` serves it. The
 * server's Content-Security-Policy allows only scripts and styles from its own
 * origin, so the build makes no inline script (no module-preload polyfill)
 * and inlines no asset as a data: URI.
 */
const here = (relative: string) => decodeURIComponent(new URL(relative, import.meta.url).pathname);

export default defineConfig({
  root: here('.'),
  base: '/',
  publicDir: false,
  build: {
    outDir: here('../../dist/web'),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: 'es2022',
    rollupOptions: {
      onwarn(warning, warn) {
        // zod's sources carry comments Rollup cannot place; they change nothing.
        if (warning.code === 'INVALID_ANNOTATION' && warning.id?.includes('node_modules')) return;
        warn(warning);
      },
    },
  },
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
});
