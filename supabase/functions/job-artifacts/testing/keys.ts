/** Test credentials: JWTs shaped like Supabase Auth's and a throwaway RSA service account key. */

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

/** The claims Supabase Auth puts in a signed-in user's access token. */
export function userClaims(sub: string, ttlSeconds = 3600): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    sub,
    role: "authenticated",
    aud: "authenticated",
    email: `${sub}@example.test`,
    iss: "supabase",
    iat: now,
    exp: now + ttlSeconds,
  };
}

/** An HS256 JWT over `claims`, signed with `secret` (as a project's legacy JWT secret does). */
export async function hs256Jwt(claims: Record<string, unknown>, secret: string): Promise<string> {
  const unsigned = `${base64url(text({ alg: "HS256", typ: "JWT" }))}.${base64url(text(claims))}`;
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const signature = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(unsigned));
  return `${unsigned}.${base64url(new Uint8Array(signature))}`;
}

/** A fresh 2048-bit RSA key as the PKCS#8 PEM a service account JSON key holds. */
export async function rsaServiceAccountKey(): Promise<{ pem: string; publicKey: CryptoKey }> {
  const pair = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const body = btoa(String.fromCharCode(...der)).replace(/.{64}/g, "$&\n");
  return {
    pem: `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`,
    publicKey: pair.publicKey,
  };
}

/** A fresh ES256 signing key as Supabase Auth's asymmetric JWT keys are, with its public JWK. */
export async function es256SigningKey(
  kid: string,
): Promise<{ privateKey: CryptoKey; jwk: JsonWebKey & { kid: string } }> {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, [
    "sign",
    "verify",
  ]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.publicKey);
  return {
    privateKey: pair.privateKey,
    jwk: { ...jwk, kid, alg: "ES256", use: "sig", key_ops: ["verify"] },
  };
}

/** An ES256 JWT over `claims` with `kid` in its header. */
export async function es256Jwt(
  claims: Record<string, unknown>,
  privateKey: CryptoKey,
  kid: string,
): Promise<string> {
  const header = { alg: "ES256", typ: "JWT", kid };
  const unsigned = `${base64url(text(header))}.${base64url(text(claims))}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    privateKey,
    new TextEncoder().encode(unsigned),
  );
  return `${unsigned}.${base64url(new Uint8Array(signature))}`;
}
