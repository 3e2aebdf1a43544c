import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import type { Test } from 'tap';

/** s3rver's fixed credentials. */
const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface LocalS3 {
  /** ATTACHMENT_STORE=s3 and the S3_* variables pointing at this server. */
  env: Record<string, string>;
  bucket: string;
  /** A client of its own, for looking at (and tampering with) what the service stored. */
  client: S3Client;
  keys(prefix?: string): Promise<string[]>;
  read(key: string): Promise<Buffer>;
  write(key: string, body: Buffer): Promise<void>;
  remove(key: string): Promise<void>;
  /** Stops the server (the store is then unreachable); teardown does it too. */
  stop(): Promise<void>;
}

/**
 * A real S3-protocol server (s3rver) on 127.0.0.1 with a fresh temporary directory and one
 * bucket, for the test's lifetime. Everything goes through the real AWS SDK.
 */
export async function startLocalS3(t: Test, bucket = 'journal-attachments'): Promise<LocalS3> {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'journal-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: CREDENTIALS,
  });
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    client.destroy();
    await server.close();
  };
  t.teardown(async () => {
    await stop();
    rmSync(directory, { recursive: true, force: true });
  });
  return {
    env: {
      ATTACHMENT_STORE: 's3',
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_BUCKET: bucket,
      S3_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      S3_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
    },
    bucket,
    client,
    async keys(prefix = '') {
      const keys: string[] = [];
      let ContinuationToken: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }),
        );
        for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
        ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (ContinuationToken);
      return keys.sort();
    },
    async read(key) {
      const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await answer.Body!.transformToByteArray());
    },
    async write(key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async remove(key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
    stop,
  };
}
