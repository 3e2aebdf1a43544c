/**
 * The layers of src/ and what may import what (README "Layout"); `npm run check` runs this.
 *
 *   server.ts, cli.ts, cli/      start-up and operator commands
 *   app.ts                       buildApp(): plugins in a fixed order, then the modules
 *   modules/<domain>/            routes, services, repositories, schemas of one domain
 *   plugins/                     framework machinery only: errors, security, clock, db, ...
 *   access/ crypto/ db/ schemas/ config.ts errors.ts logger.ts     leaves and infrastructure
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes the layers meaningless and the load order fragile.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'leaves-import-no-domain',
      severity: 'error',
      comment:
        'config, schemas, crypto, access, db, errors and logger sit below every domain: they never import modules or plugins.',
      from: { path: '^src/(config|errors|logger)\\.ts$|^src/(schemas|crypto|access|db)/' },
      to: { path: '^src/(modules|plugins)/' },
    },
    {
      name: 'crypto-knows-no-database',
      severity: 'error',
      comment:
        'crypto/ is pure functions plus the keyring; where keys are stored is a KeyStore (db/key-store.ts).',
      from: { path: '^src/crypto/' },
      to: { path: '^src/db/' },
    },
    {
      name: 'plugins-import-no-module',
      severity: 'error',
      comment:
        'plugins/ is framework machinery; a domain that acts on every request owns its hook in its module, registered by app.ts.',
      from: { path: '^src/plugins/' },
      to: { path: '^src/modules/' },
    },
    {
      name: 'nothing-imports-the-top',
      severity: 'error',
      comment: 'Only the entry points build the app or start the process.',
      from: { path: '^src/', pathNot: '^src/(server|cli)\\.ts$|^src/cli/' },
      to: { path: '^src/(app|server|cli)\\.ts$|^src/cli/' },
    },
    {
      name: 'src-uses-no-dev-dependency',
      severity: 'error',
      comment: 'What runs in the production image (npm ci --omit=dev) may need only dependencies.',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'] },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that does not resolve is a package missing from package.json.',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
