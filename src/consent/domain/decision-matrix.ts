import { ContentType, ListType } from './consent-types.js';

/**
 * Which opt-out lists stop a message of a given content type (Sinch's consent-management matrix):
 * OPT_OUT_ALL stops everything; OPT_OUT_MARKETING stops CONTENT_MARKETING; OPT_OUT_NOTIFICATION
 * stops CONTENT_NOTIFICATION; CONTENT_UNKNOWN is checked against OPT_OUT_ALL only.
 */
const MATRIX: Record<ContentType, readonly ListType[]> = {
  [ContentType.CONTENT_UNKNOWN]: [ListType.OPT_OUT_ALL],
  [ContentType.CONTENT_MARKETING]: [ListType.OPT_OUT_ALL, ListType.OPT_OUT_MARKETING],
  [ContentType.CONTENT_NOTIFICATION]: [ListType.OPT_OUT_ALL, ListType.OPT_OUT_NOTIFICATION],
};

export function listsThatStop(contentType: ContentType): readonly ListType[] {
  return MATRIX[contentType];
}
