// The package: two ESM entry points, React left to the host application.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    outDir: 'dist/lib',
    emptyOutDir: true,
    sourcemap: true,
    minify: true,
    lib: {
      entry: { client: 'src/client/index.ts', react: 'src/react/index.ts' },
      formats: ['es'],
    },
    rollupOptions: {
      external: ['react', 'react-dom', 'react/jsx-runtime'],
      output: { chunkFileNames: 'shared-[hash].js' },
    },
  },
});
