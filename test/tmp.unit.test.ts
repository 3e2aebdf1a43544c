/** test/helpers/tmp.ts: the suite leaves no directories behind in the OS temporary directory. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

t.test('a tempDir is removed, contents and all, when its process exits', async (t) => {
  const helper = pathToFileURL(path.join(import.meta.dirname, 'helpers', 'tmp.ts')).href;
  const script = [
    "import { mkdirSync, writeFileSync } from 'node:fs';",
    `import { tempDir } from '${helper}';`,
    "const dir = tempDir('journal-tmp-test-');",
    "mkdirSync(dir + '/nested'); writeFileSync(dir + '/nested/file', 'x');",
    'console.log(dir);',
  ].join('\n');
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--import',
    import.meta.resolve('tsx'),
    '--input-type=module',
    '--eval',
    script,
  ]);
  const dir = stdout.trim();
  t.match(dir, /journal-tmp-test-/, 'the child made one');
  t.notOk(existsSync(dir), 'and it is gone once the child has exited');
});
