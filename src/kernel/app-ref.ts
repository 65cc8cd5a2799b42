/** The app a request, change or job belongs to: a Sinch project and one of its apps. */
export interface AppRef {
  projectId: string;
  appId: string;
}

/**
 * The app as text PostgreSQL can take (advisory-lock names): project_id and app_id cannot contain
 * "/" (RESOURCE_ID_PATTERN), so this is unambiguous.
 */
export function appPath(app: AppRef): string {
  return `${app.projectId}/${app.appId}`;
}
