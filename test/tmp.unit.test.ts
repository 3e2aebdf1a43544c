/** test/helpers/tmp.ts: the suite leaves no directories behind in the OS temporary directory. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import t from 'tap';
import { tsxArgs } from './helpers/process.js';

t.test('a tempDir is removed, contents and all, when its process exits', async (t) => {
  const script = [
    "import { writeFileSync, mkdirSync } from 'node:fs';",
    "import { tempDir } from './test/helpers/tmp.ts';",
    "const dir = tempDir('journal-tmp-test-');",
    "mkdirSync(dir + '/nested'); writeFileSync(dir + '/nested/file', 'x');",
    'console.log(dir);',
  ].join('\n');
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [...tsxArgs('test/helpers/tmp.ts').slice(0, 2), '--input-type=module', '-e', script],
    { cwd: `${import.meta.dirname}/..` },
  );
  const dir = stdout.trim();
  t.match(dir, /journal-tmp-test-/, 'the child made one');
  t.notOk(existsSync(dir), 'and it is gone once the child has exited');
});
