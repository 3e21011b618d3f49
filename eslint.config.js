// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Layers below may not import layers above (docs/architecture.md §1). */
const forbid = (...layers) => ({
  'no-restricted-imports': [
    'error',
    { patterns: layers.map((layer) => ({ group: [`**/${layer}`, `**/${layer}/**`], message: `this layer may not import src/${layer} (docs/architecture.md §1: dependencies point one way)` })) },
  ],
});

export default tseslint.config(
  { ignores: ['node_modules/', 'migrations/', 'coverage/', 'bench/results/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'bin/*.js', 'scripts/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
    },
  },
  { files: ['src/db/**'], rules: forbid('machinery', 'providers', 'scheduler', 'api', 'cli', 'daemon', 'config') },
  { files: ['src/machinery/**'], rules: forbid('providers', 'scheduler', 'api', 'cli', 'daemon') },
  // The dashboard runs in the browser and knows the server only through the REST API.
  { files: ['src/ui/**'], rules: forbid('db', 'machinery', 'providers', 'scheduler', 'api', 'cli', 'daemon', 'config') },
  {
    // Reads and writes of the tables live in the repository (src/machinery) and src/db, not in SQL above them.
    files: ['src/scheduler/**', 'src/api/**', 'src/cli/**', 'src/daemon/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'drizzle-orm', message: 'SQL lives in src/machinery (the repository) or src/db; add a named read or write there' }],
          patterns: [{ group: ['drizzle-orm/*'], message: 'SQL lives in src/machinery (the repository) or src/db; add a named read or write there' }],
        },
      ],
    },
  },
  {
    files: ['test/**'],
    rules: {
      // Tests read raw rows and error shapes; the production code does not get this latitude.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    files: ['*.js', 'bin/*.js', 'scripts/*.js'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
