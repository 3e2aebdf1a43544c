/**
 * The typed-client contract (issue #14): a client developer generates types from
 * openapi.yaml with openapi-typescript and calls the service with openapi-fetch, with no cast
 * and no hand-written type. The types are generated afresh from the committed document, the
 * journey (journey.ts) is type-checked against them as strictly as a careful client would
 * (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess), and then run against the
 * service. A route whose document drifts from what it does fails one of the three.
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import ts from 'typescript';
import { OPENAPI_TYPES_FILE, openApiTypes } from '../../scripts/openapi-document.js';
import { CSV_COLUMNS } from '../../src/modules/audit/audit.csv.js';
import { buildTestApp } from '../helpers/app.js';
import { createUser } from '../helpers/auth.js';
import { journey } from './journey.js';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const JOURNEY = path.join(import.meta.dirname, 'journey.ts');

const generated = openApiTypes(readFileSync(path.join(ROOT, 'openapi.yaml'), 'utf8'));

t.test('the types generated from openapi.yaml are the committed ones', async (t) => {
  t.equal(readFileSync(OPENAPI_TYPES_FILE, 'utf8'), await generated, 'run `npm run openapi`');
});

t.test('the journey type-checks against them, with no cast', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'journal-client-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  writeFileSync(path.join(dir, 'openapi.d.ts'), await generated);
  writeFileSync(path.join(dir, 'journey.ts'), readFileSync(JOURNEY, 'utf8'));
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2023',
        lib: ['ES2023'],
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
        noEmit: true,
        types: ['node'],
      },
      files: ['journey.ts'],
    }),
  );
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(dir, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) =>
        t.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    },
  );
  if (!config) throw new Error('no tsconfig');
  const program = ts.createProgram(config.fileNames, config.options);
  const diagnostics = ts.getPreEmitDiagnostics(program);
  t.same(
    diagnostics.map((d) =>
      ts.formatDiagnostic(d, {
        ...ts.sys,
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => dir,
        getNewLine: () => '\n',
      }),
    ),
    [],
    'no type error',
  );

  // No escape hatch: not `as` (but `as const`), `<T>x`, `x!` or `any`.
  const source = program.getSourceFile(path.join(dir, 'journey.ts'));
  if (!source) throw new Error('journey.ts not in the program');
  const escapes: string[] = [];
  const visit = (node: ts.Node) => {
    const isConst =
      ts.isAsExpression(node) &&
      ts.isTypeReferenceNode(node.type) &&
      node.type.typeName.getText(source) === 'const';
    if (
      (ts.isAsExpression(node) && !isConst) ||
      ts.isTypeAssertionExpression(node) ||
      ts.isNonNullExpression(node) ||
      node.kind === ts.SyntaxKind.AnyKeyword
    ) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      escapes.push(`journey.ts:${line + 1}: ${node.getText(source)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  t.same(escapes, [], 'no cast, no non-null assertion, no any');
});

t.test('the journey runs against the service', async (t) => {
  const { app } = await buildTestApp(t);
  const admin = { username: `admin-${process.pid}`, password: 'choose 12 to 128 characters' };
  await createUser(app, { role: 'admin', ...admin });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  const result = await journey(`http://127.0.0.1:${port}`, admin);
  t.same(result.refusals, ['consent_missing', 'already_withdrawn'], 'branched on problem.rule');
  t.ok(result.exportedLines > 5, `${result.exportedLines} events exported as NDJSON`);
  t.equal(result.csvHeader, CSV_COLUMNS.join(','), 'the CSV header row');
  t.comment(result.steps.join('; '));
});
