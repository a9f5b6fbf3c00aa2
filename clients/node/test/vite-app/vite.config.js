import { defineConfig } from 'vite';

// The e2e test rewrites envPrefix (to 'MYAPP_') to check that the runner follows the tool.
export default defineConfig({
  envPrefix: 'VITE_',
});
