// @ts-check
import eslint from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** Layering (never the other way): domain <- pki <- connectors/approval <- apps; api-client <- apps. */
const appImports = { group: ['**/apps/**', 'apps/*'], message: 'libs never import apps' };
const lib = (name) => ({ group: [`@certctl/${name}`, `**/libs/${name}/**`] });
const layer = (files, forbidden) => ({
  files,
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          appImports,
          ...forbidden.map((n) => ({ ...lib(n), message: `this layer may not depend on @certctl/${n}` })),
          {
            group: ['../../libs/*', '../../../libs/*'],
            message: 'import other libs through their @certctl/<lib> alias',
          },
        ],
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'data/**', '**/*.js', '**/*.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  prettier,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  layer(['libs/domain/**/*.ts'], ['pki', 'connectors', 'approval', 'api-client']),
  layer(['libs/pki/**/*.ts'], ['connectors', 'approval', 'api-client']),
  layer(['libs/connectors/**/*.ts'], ['approval', 'api-client']),
  layer(['libs/approval/**/*.ts'], ['connectors', 'api-client']),
  // The HTTP client of the server's API (agent, mcp, cli): it stands alone.
  layer(['libs/api-client/**/*.ts'], ['domain', 'pki', 'connectors', 'approval']),
  {
    // Tests use jest's loose matchers (expect.any, expect.stringContaining) on untyped bodies.
    files: ['**/*.spec.ts', '**/*.integration-spec.ts', 'e2e/**/*.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
);
