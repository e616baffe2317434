/** Jest runs TypeScript through @swc/jest (CommonJS output). The ESM-only
 * dependencies are transformed too, so the same source runs under jest, the
 * ESM build and the CJS build. Type errors are caught by `npm run typecheck`. */
const transform = {
  '^.+\\.(t|j|mj)s$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }],
};
const transformIgnorePatterns = ['/node_modules/(?!(p-queue|p-timeout|eventemitter3|jose|eventsource-parser)/)'];
const common = { transform, transformIgnorePatterns, testEnvironment: 'node', moduleNameMapper: { '^gripkit$': '<rootDir>/src/index.ts' } };

module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'differential', testMatch: ['<rootDir>/test/differential/**/*.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
  ],
  testTimeout: 30000,
  // One file at a time: several files start their own Pushpin and Chromium,
  // and on a 2-core machine running them side by side starves Pushpin's
  // startup and its subscription handling (timing, not logic, then fails).
  maxWorkers: 1,
};
