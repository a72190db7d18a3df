/** The V4 signer agrees byte for byte with Google's own Node library, and verifies. */
import assert from "node:assert/strict";
import { Storage } from "@google-cloud/storage";
import { gcsObjectName, GcsUrlSigner, MAX_EXPIRES_SECONDS } from "./gcs.ts";
import { rsaServiceAccountKey } from "./testing/keys.ts";

const CLIENT_EMAIL = "vproc-signer@vproc-test.iam.gserviceaccount.com";

const key = await rsaServiceAccountKey();
// Signing is deterministic (PKCS#1 v1.5), so both implementations must produce one URL.
const now = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000);

async function referenceUrl(objectName: string, ttl: number): Promise<string> {
  const storage = new Storage({
    projectId: "vproc-test",
    credentials: { client_email: CLIENT_EMAIL, private_key: key.pem },
  });
  const [url] = await storage.bucket("vproc-bucket").file(objectName).getSignedUrl({
    version: "v4",
    action: "read",
    accessibleAt: now,
    expires: now.getTime() + ttl * 1000,
  });
  return url;
}

const names = [
  gcsObjectName("video-artifacts", "0b5c5a2e-8f40-4c55-9e0c-1d2f3a4b5c6d/42/thumbnail.jpg"),
  "video-artifacts/uid/7/subtitles file (1)+ü*'!~.vtt",
];

for (const name of names) {
  Deno.test(`same URL as @google-cloud/storage for ${JSON.stringify(name)}`, async () => {
    const signer = await GcsUrlSigner.fromKey(
      { client_email: CLIENT_EMAIL, private_key: key.pem },
      "vproc-bucket",
    );
    assert.equal(await signer.signedUrl(name, 300, now), await referenceUrl(name, 300));
  });
}

Deno.test("the signature verifies with the service account's public key", async () => {
  const signer = await GcsUrlSigner.fromKey(
    { client_email: CLIENT_EMAIL, private_key: key.pem },
    "vproc-bucket",
  );
  const url = new URL(await signer.signedUrl("video-artifacts/u/1/transcript.txt", 900, now));
  assert.equal(url.origin, "https://storage.googleapis.com");
  assert.equal(url.pathname, "/vproc-bucket/video-artifacts/u/1/transcript.txt");
  assert.equal(url.searchParams.get("X-Goog-Expires"), "900");
  assert.equal(url.searchParams.get("X-Goog-SignedHeaders"), "host");
  const signature = url.searchParams.get("X-Goog-Signature") ?? "";
  url.searchParams.delete("X-Goog-Signature");
  const canonical = [
    "GET",
    url.pathname,
    url.search.slice(1),
    "host:storage.googleapis.com\n",
    "host",
    "UNSIGNED-PAYLOAD",
  ].join("\n");
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical)),
  );
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const stamp = url.searchParams.get("X-Goog-Date") ?? "";
  const scope = `${stamp.slice(0, 8)}/auto/storage/goog4_request`;
  const stringToSign = ["GOOG4-RSA-SHA256", stamp, scope, hex].join("\n");
  const bytes = Uint8Array.from(signature.match(/../g) ?? [], (h) => parseInt(h, 16));
  assert.ok(
    await crypto.subtle.verify(
      "RSASSA-PKCS1-v1_5",
      key.publicKey,
      bytes,
      new TextEncoder().encode(stringToSign),
    ),
  );
});

Deno.test("a key from JSON with escaped newlines (as pasted into secrets) imports", async () => {
  const json = JSON.stringify({
    type: "service_account",
    client_email: CLIENT_EMAIL,
    private_key: key.pem.replaceAll("\n", "\\n"),
  });
  const signer = await GcsUrlSigner.fromServiceAccountJson(json, "vproc-bucket");
  assert.equal(signer.clientEmail, CLIENT_EMAIL);
  assert.match(await signer.signedUrl("a/b", 1, now), /X-Goog-Signature=[0-9a-f]{512}$/);
});

Deno.test("bad keys and lifetimes are refused", async () => {
  await assert.rejects(GcsUrlSigner.fromServiceAccountJson("{", "b"), /not valid JSON/);
  await assert.rejects(GcsUrlSigner.fromServiceAccountJson("{}", "b"), /client_email/);
  const signer = await GcsUrlSigner.fromKey(
    { client_email: CLIENT_EMAIL, private_key: key.pem },
    "b",
  );
  await assert.rejects(signer.signedUrl("a/b", 0, now), RangeError);
  await assert.rejects(signer.signedUrl("a/b", MAX_EXPIRES_SECONDS + 1, now), RangeError);
});
