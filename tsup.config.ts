import { defineConfig } from 'tsup';

// ESM build: dependencies stay external. CJS build: the ESM-only dependency
// p-queue (and its own deps) plus jose are bundled, so `require('gripkit')`
// works on every Node >= 20 without relying on require(esm).
const shared = {
  entry: ['src/index.ts'],
  target: 'node20',
  sourcemap: true,
  dts: true,
  platform: 'node' as const,
};

export default defineConfig([
  { ...shared, format: ['esm'], clean: true },
  { ...shared, format: ['cjs'], noExternal: ['p-queue', 'p-timeout', 'eventemitter3', 'jose'] },
]);
