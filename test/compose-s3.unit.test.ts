import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

const file = readFileSync(path.resolve(import.meta.dirname, '..', 'docker-compose.yml'), 'utf8');
type Service = Record<string, unknown>;
const compose = parse(file) as { services: Record<string, Service>; volumes: Service };

t.test('docker-compose.yml: MinIO is optional, behind the s3 profile', async (t) => {
  const { minio, 'minio-bucket': bucket, api, db } = compose.services;
  t.match(minio?.image, /^minio\/minio/);
  t.same(minio?.profiles, ['s3'], 'not started by a plain `docker compose up`');
  t.same(bucket?.profiles, ['s3']);
  t.same(bucket?.depends_on, { minio: { condition: 'service_healthy' } });
  t.ok((minio?.healthcheck as { test?: unknown } | undefined)?.test, 'minio has a healthcheck');
  t.equal(api?.profiles, undefined, 'the API and PostgreSQL always run');
  t.equal(db?.profiles, undefined);
  t.ok('miniodata' in compose.volumes);
  t.notOk(
    (minio?.ports as string[]).some((port) => !port.startsWith('127.0.0.1:')),
    'MinIO answers on loopback only',
  );
});

t.test("the API's S3_* lines (commented) point at the bucket minio-bucket makes", async (t) => {
  const commented = (name: string) =>
    new RegExp(`^\\s*# ${name}: (.+)$`, 'm').exec(file)?.[1]?.trim();
  t.equal(commented('ATTACHMENT_STORE'), 's3');
  t.equal(commented('S3_ENDPOINT'), 'http://minio:9000');
  t.equal(commented('S3_FORCE_PATH_STYLE'), "'true'");
  const bucket = commented('S3_BUCKET');
  t.equal(bucket, 'journal-attachments');
  t.match(String(compose.services['minio-bucket']?.entrypoint), `local/${bucket}`);
  for (const name of ['S3_REGION', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY']) {
    t.ok(commented(name), `${name} is there to uncomment`);
  }
});
