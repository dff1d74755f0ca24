/**
 * A small client of the guard console for scripts (the demo, the bench) and tests: signs in with a
 * guard's name and password, then calls the console's API with the session cookie and CSRF token.
 */
export interface ConsoleClient {
  readonly guard: string;
  get(path: string): Promise<Response>;
  post(path: string, body: object): Promise<Response>;
}

export async function signIn(baseUrl: string, guard: string, password: string): Promise<ConsoleClient> {
  const res = await fetch(`${baseUrl}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: guard, password }) });
  const body = (await res.json()) as { ok: boolean; csrf?: string; error?: string };
  if (!body.ok || !body.csrf) throw new Error(`guard console refused the sign-in of ${guard}: ${body.error ?? res.status}`);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  const csrf = body.csrf;
  return {
    guard,
    get: (path) => fetch(baseUrl + path, { headers: { cookie } }),
    post: (path, b) => fetch(baseUrl + path, { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(b) }),
  };
}
