import { randomBytes } from 'node:crypto';
import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.js';
import { tempDir } from './helpers/tmp.js';

const base = {
  MASTER_KEY: randomBytes(32).toString('base64'),
  JWT_SECRET: randomBytes(40).toString('base64url'),
};
const s3 = {
  ATTACHMENT_STORE: 's3',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_REGION: 'eu-north-1',
  S3_BUCKET: 'journal-attachments',
  S3_ACCESS_KEY_ID: 'minio-user',
  S3_SECRET_ACCESS_KEY: 'minio-secret',
};
const load = (env: Record<string, string>) =>
  loadConfig({ ...base, ...env }, { dataDir: tempDir('journal-s3-') });

function errorFor(env: Record<string, string>): string {
  try {
    load(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  return 'no error';
}

t.test('the PostgreSQL store is the default, and S3_* are ignored with it', async (t) => {
  t.same(load({}).attachmentStore, { kind: 'postgres' });
  t.same(load({ S3_BUCKET: 'some-bucket' }).attachmentStore, { kind: 'postgres' });
  t.same(load({ ATTACHMENT_STORE: 'postgres' }).attachmentStore, { kind: 'postgres' });
});

t.test('ATTACHMENT_STORE=s3 takes its settings from S3_*', async (t) => {
  t.same(load(s3).attachmentStore, {
    kind: 's3',
    s3: {
      endpoint: 'http://127.0.0.1:9000',
      region: 'eu-north-1',
      bucket: 'journal-attachments',
      accessKeyId: 'minio-user',
      secretAccessKey: 'minio-secret',
      forcePathStyle: false,
    },
  });
  const pathStyle = load({ ...s3, S3_FORCE_PATH_STYLE: 'true', S3_ENDPOINT: '' });
  t.match(pathStyle.attachmentStore, { kind: 's3', s3: { forcePathStyle: true } });
  t.equal(
    pathStyle.attachmentStore.kind === 's3' ? pathStyle.attachmentStore.s3.endpoint : 'x',
    undefined,
    'no S3_ENDPOINT: AWS S3 itself',
  );
});

t.test('a missing S3 variable stops start with one line naming it', async (t) => {
  for (const name of ['S3_REGION', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) {
    const message = errorFor({ ...s3, [name]: '' });
    t.equal(message, `Invalid configuration: ${name} is required when ATTACHMENT_STORE=s3`);
    t.notMatch(message, /minio-secret/, 'no secret in the message');
  }
});

t.test('bad S3 values name their variable', async (t) => {
  t.match(errorFor({ ATTACHMENT_STORE: 'disk' }), /^Invalid configuration: ATTACHMENT_STORE /);
  t.match(errorFor({ ...s3, S3_ENDPOINT: 'ftp://x' }), /^Invalid configuration: S3_ENDPOINT /);
  t.match(errorFor({ ...s3, S3_ENDPOINT: 'not a url' }), /^Invalid configuration: S3_ENDPOINT /);
  t.match(errorFor({ ...s3, S3_BUCKET: 'b' }), /^Invalid configuration: S3_BUCKET /);
  t.match(errorFor({ ...s3, S3_BUCKET: 'Upper_Case' }), /^Invalid configuration: S3_BUCKET /);
  t.match(
    errorFor({ ...s3, S3_FORCE_PATH_STYLE: 'yes' }),
    /^Invalid configuration: S3_FORCE_PATH_STYLE must be true or false/,
  );
  t.notMatch(errorFor({ ...s3, S3_BUCKET: 'b' }), /\n/, 'one line');
});
