// The demo page (served by `registro up`): a static bundle with React inside.
import { defineConfig } from 'vite';

export default defineConfig({
  root: 'demo',
  base: './',
  build: { outDir: '../dist/demo', emptyOutDir: true },
});
