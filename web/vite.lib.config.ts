// The package: ESM entry points, React and TanStack Query left to the host application.
import { defineConfig } from 'vite';

// Entries whose modules use hooks or the DOM: Next.js (App Router) must treat them as
// client modules. The directive has to be the file's first statement, so it is added to
// the emitted chunk after minification (a directive inside a bundled module is dropped).
const CLIENT_ENTRIES = new Set(['react']);

export default defineConfig({
  build: {
    outDir: 'dist/lib',
    emptyOutDir: true,
    sourcemap: true,
    minify: true,
    lib: {
      entry: { client: 'src/client/index.ts', react: 'src/react/index.ts', query: 'src/query/index.ts' },
      formats: ['es'],
    },
    rollupOptions: {
      external: ['react', 'react-dom', 'react/jsx-runtime', '@tanstack/react-query'],
      output: {
        chunkFileNames: 'shared-[hash].js',
        postBanner: (chunk) => (chunk.isEntry && CLIENT_ENTRIES.has(chunk.name) ? "'use client';" : ''),
      },
    },
  },
});
