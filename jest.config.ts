import type { Config } from 'jest';

// ESM project. tsconfig has isolatedModules, so ts-jest only transpiles: type checking is `tsc`'s job in
// `npm run build`, which `npm test` runs first, and test start-up stays fast.
const config: Config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  testTimeout: 60_000,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  setupFilesAfterEnv: ['<rootDir>/test/support/roarr-teardown.ts'],
};

export default config;
