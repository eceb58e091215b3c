// One root jest run, three tiers (STYLE 13): unit beside the code, integration on the real
// Postgres and Redis, e2e against the built server as a process.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const common = {
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': swc },
  // NestJS 12, pkijs and asn1js ship ESM only: let swc turn them into CommonJS for jest.
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|pkijs|asn1js|@peculiar/utils|@noble|bytestreamjs|file-type)/)'],
  moduleNameMapper: {
    '^@certctl/(domain|pki|connectors|approval|api-client)$': '<rootDir>/libs/$1/src/index.ts',
  },
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};

module.exports = {
  // testTimeout is a global option (ignored inside projects): integration and e2e tests
  // start real servers, so allow 90 s per test.
  testTimeout: 90_000,
  // --shard splits by cost (scripts/run-tests.js runs integration shards side by side).
  testSequencer: '<rootDir>/test/jest-sequencer.js',
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts', '<rootDir>/test/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/{apps,libs}/**/*.integration-spec.ts'],
      globalSetup: '<rootDir>/test/integration/global-setup.ts',
      globalTeardown: '<rootDir>/test/integration/global-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/e2e/**/*.e2e-spec.ts'],
    },
  ],
};
