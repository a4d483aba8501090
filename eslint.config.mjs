// The lint gate (`npm run lint`, run by `npm test` and so by CI). Type-aware rules catch what the
// compiler lets through and reviews miss: a promise nobody awaits (a write that may never
// happen, an unhandled rejection that kills the process), a promise where a callback expects a
// value, an await of a non-promise. Formatting is Prettier's (`npm run format`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'data/**',
      'test-output/**',
      'bench/results/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
      'packages/client/build.mjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        project: ['./tsconfig.json', './tsconfig.dashboard.json', './packages/verifier/tsconfig.json', './packages/client/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      // Passing on a caught value (of type unknown) is propagation, not a new rejection reason.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // A ternary picking which function to call (a page's dispatch on its route) is a statement on purpose.
      '@typescript-eslint/no-unused-expressions': ['error', { allowTernary: true }],
      // Untyped or optional modules loaded on demand: autocannon and better-sqlite3 in benches, an optional peer in the verifier's Nest adapter.
      '@typescript-eslint/no-require-imports': ['error', { allow: ['^autocannon$', '^better-sqlite3$', '^@nestjs/common$'] }],
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    // Nest resolves constructor parameters by their emitted type metadata: a type-only import of
    // an injected class would leave Nest nothing to inject. Server code keeps value imports.
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts', 'ormconfig.ts'],
    ignores: ['src/admin/dashboard/client/**', 'src/account/pages/client/**'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // Tests and benches read untyped JSON answers whose shape the assertions themselves check.
    files: ['test/**/*.ts', 'bench/**/*.ts', 'packages/*/test/**/*.ts', 'packages/*/test-support/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Scripts and benches talk to the terminal.
    files: ['bench/**/*.ts', 'examples/**/*.ts', 'src/cli/**/*.ts', 'test/**/*.ts', 'packages/*/test/**/*.ts', 'packages/*/test-support/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
