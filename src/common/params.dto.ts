import { ApiProperty } from '@nestjs/swagger';
import { Matches } from 'class-validator';
import { ApiError, FieldViolation } from './api-error.js';
import { RESOURCE_ID_PATTERN } from './ids.js';

const ID_RULE = 'must be 1-64 characters of letters, digits, ".", "_", ":" or "-"';

/** The violation of a malformed resource id path parameter (project_id, app_id). */
export function invalidId(key: string): FieldViolation {
  return { field: key, description: `${key} ${ID_RULE}` };
}

export class ProjectParams {
  @ApiProperty({ description: 'Sinch project id', example: 'c36f3d3d-1523-4edd-ae42-11995557ff61' })
  @Matches(RESOURCE_ID_PATTERN, { message: `project_id ${ID_RULE}` })
  project_id: string;
}

/** Self-validating (see SelfValidating): it is on every app-scoped route. */
export class AppParams extends ProjectParams {
  @ApiProperty({
    description: 'Sinch Conversation API app id',
    example: '01EB37HMH1M6SV18ABNS3G135H',
  })
  @Matches(RESOURCE_ID_PATTERN, { message: `app_id ${ID_RULE}` })
  app_id: string;

  static fromPlain(value: unknown): AppParams {
    const v = (value ?? {}) as Record<string, unknown>;
    const violations: FieldViolation[] = [];
    for (const key of ['project_id', 'app_id'] as const) {
      const id = v[key];
      if (typeof id !== 'string' || !RESOURCE_ID_PATTERN.test(id)) violations.push(invalidId(key));
    }
    if (violations.length > 0) {
      throw ApiError.invalidRequest(violations);
    }
    return Object.assign(new AppParams(), { project_id: v.project_id, app_id: v.app_id });
  }
}
