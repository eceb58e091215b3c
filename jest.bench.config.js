// Benchmarks run through jest for its TypeScript transform and path aliases, but never in
// `npm test`: `npm run bench` runs them and prints their figures.
const base = require('./jest.config.js').projects[0];

module.exports = {
  ...base,
  displayName: 'bench',
  testMatch: ['<rootDir>/bench/**/*.bench.ts'],
  testTimeout: 30 * 60_000,
};
