import { z } from 'zod';
import { singleLine } from '../../schemas/text.js';

export const createClinicBodySchema = z
  .strictObject({ name: singleLine(z.string().trim().min(1).max(200)) })
  .meta({ id: 'ClinicCreate', requestExample: { name: 'Klinik Nord' } });

export const clinicSchema = z
  .object({ id: z.uuid(), name: z.string(), createdAt: z.iso.datetime() })
  .meta({ id: 'Clinic' });
