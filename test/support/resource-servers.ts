import type { Http } from './http';

export interface ResourceServerCredentials {
  clientId: string;
  clientSecret: string;
  /** The Authorization header value (client_secret_basic). */
  basic: string;
}

export function basicAuth(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

/** Registers a resource server through the admin API. */
export async function addResourceServer(http: Http, adminToken: string, name = 'orders-api'): Promise<ResourceServerCredentials> {
  const r = await http.post('/admin/resource-servers', { name }, { token: adminToken });
  if (r.status !== 201) throw new Error(`adding a resource server failed: ${r.status} ${r.text}`);
  return { clientId: r.body.clientId, clientSecret: r.body.clientSecret, basic: basicAuth(r.body.clientId, r.body.clientSecret) };
}

/** The session id a SET is about, without verifying it (tests verify separately where it matters). */
export function setSession(set: string): string {
  return JSON.parse(Buffer.from(set.split('.')[1], 'base64url').toString()).sub_id.session.id;
}
