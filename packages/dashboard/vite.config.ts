import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built to static files the hub serves at `/`: relative asset paths, no CDN, nothing fetched at run time.
export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1024 },
  server: { proxy: { '/api': 'http://127.0.0.1:7070', '/health': 'http://127.0.0.1:7070', '/ws': { target: 'ws://127.0.0.1:7070', ws: true } } },
});
