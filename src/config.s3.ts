import { z } from 'zod';

/** Where an S3-compatible attachment store is and how to sign in to it (ATTACHMENT_STORE=s3). */
export interface S3StoreConfig {
  /** Unset: AWS S3 itself (the SDK finds the endpoint from the region). */
  endpoint: string | undefined;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `http://host/bucket/key` rather than `http://bucket.host/key` (MinIO, s3rver). */
  forcePathStyle: boolean;
}

const emptyToUndefined = (value: unknown) =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const text = z.preprocess(emptyToUndefined, z.string().trim().min(1).optional());

/** The S3_* variables; all optional here, S3_REQUIRED says which ATTACHMENT_STORE=s3 needs. */
export const s3EnvShape = {
  S3_ENDPOINT: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .trim()
      .refine((value) => {
        try {
          return ['http:', 'https:'].includes(new URL(value).protocol);
        } catch {
          return false;
        }
      }, 'must be an http or https URL')
      .optional(),
  ),
  S3_REGION: text,
  // S3's own bucket naming rules (3-63 characters, lower case, digits, dots and dashes).
  S3_BUCKET: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .trim()
      .regex(
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'must be a bucket name: 3 to 63 lower-case letters, digits, dots and dashes',
      )
      .optional(),
  ),
  S3_ACCESS_KEY_ID: text,
  S3_SECRET_ACCESS_KEY: text,
  S3_FORCE_PATH_STYLE: z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false'], { message: 'must be true or false' })
      .default('false')
      .transform((value) => value === 'true'),
  ),
};

type S3Env = z.output<z.ZodObject<typeof s3EnvShape>>;

/** Needed with ATTACHMENT_STORE=s3, checked in this order. */
const S3_REQUIRED = ['S3_REGION', 'S3_BUCKET', 'S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY'] as const;

/** The S3 settings, or the name of the first variable that is missing. */
export function s3ConfigFrom(values: S3Env): S3StoreConfig | { missing: string } {
  const missing = S3_REQUIRED.find((name) => values[name] === undefined);
  if (missing !== undefined) return { missing };
  return {
    endpoint: values.S3_ENDPOINT,
    region: values.S3_REGION as string,
    bucket: values.S3_BUCKET as string,
    accessKeyId: values.S3_ACCESS_KEY_ID as string,
    secretAccessKey: values.S3_SECRET_ACCESS_KEY as string,
    forcePathStyle: values.S3_FORCE_PATH_STYLE,
  };
}
