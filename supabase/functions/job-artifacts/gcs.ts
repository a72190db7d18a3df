/**
 * Google Cloud Storage V4 signed URLs, computed with WebCrypto from a service account key.
 * No Google client library: the function signs locally and the key never leaves its secrets.
 */

const GCS_HOST = "storage.googleapis.com";
const ALGORITHM = "GOOG4-RSA-SHA256";
/** V4 signatures are valid for at most seven days. */
export const MAX_EXPIRES_SECONDS = 7 * 24 * 60 * 60;

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
}

/** The object that holds `key` of logical bucket `bucket` inside the one GCS bucket. */
export function gcsObjectName(bucket: string, key: string): string {
  return `${bucket}/${key}`;
}

/** Signs read URLs for objects of one GCS bucket. */
export class GcsUrlSigner {
  private constructor(
    private readonly signingKey: CryptoKey,
    readonly clientEmail: string,
    readonly bucket: string,
  ) {}

  /** Import the key of a service account (its JSON key file's text). */
  static async fromServiceAccountJson(json: string, bucket: string): Promise<GcsUrlSigner> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new Error("the GCS service account key is not valid JSON", { cause: error });
    }
    const account = parsed as Partial<ServiceAccountKey>;
    if (typeof account.client_email !== "string" || typeof account.private_key !== "string") {
      throw new Error("the GCS service account key needs client_email and private_key");
    }
    return await GcsUrlSigner.fromKey(account as ServiceAccountKey, bucket);
  }

  static async fromKey(account: ServiceAccountKey, bucket: string): Promise<GcsUrlSigner> {
    const key = await crypto.subtle.importKey(
      "pkcs8",
      pemToDer(account.private_key),
      { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
      false,
      ["sign"],
    );
    return new GcsUrlSigner(key, account.client_email, bucket);
  }

  /**
   * A GET URL for `objectName`, valid from `now` for `expiresInSeconds` (1..604800).
   * Path-style (`https://storage.googleapis.com/<bucket>/<object>`), as Google's libraries
   * produce by default.
   */
  async signedUrl(objectName: string, expiresInSeconds: number, now: Date): Promise<string> {
    if (
      !Number.isInteger(expiresInSeconds) ||
      expiresInSeconds < 1 ||
      expiresInSeconds > MAX_EXPIRES_SECONDS
    ) {
      throw new RangeError(`expiresInSeconds must be 1..${MAX_EXPIRES_SECONDS}`);
    }
    const timestamp = formatTimestamp(now);
    const datestamp = timestamp.slice(0, 8);
    const scope = `${datestamp}/auto/storage/goog4_request`;
    const path = `/${this.bucket}/${encodePath(objectName)}`;
    const query = canonicalQuery({
      "X-Goog-Algorithm": ALGORITHM,
      "X-Goog-Credential": `${this.clientEmail}/${scope}`,
      "X-Goog-Date": timestamp,
      "X-Goog-Expires": String(expiresInSeconds),
      "X-Goog-SignedHeaders": "host",
    });
    const canonicalRequest = [
      "GET",
      path,
      query,
      `host:${GCS_HOST}\n`,
      "host",
      "UNSIGNED-PAYLOAD",
    ].join("\n");
    const stringToSign = [ALGORITHM, timestamp, scope, await sha256Hex(canonicalRequest)].join(
      "\n",
    );
    const signature = await crypto.subtle.sign(
      "RSASSA-PKCS1-v1_5",
      this.signingKey,
      new TextEncoder().encode(stringToSign),
    );
    return `https://${GCS_HOST}${path}?${query}&X-Goog-Signature=${toHex(signature)}`;
  }
}

/** RFC 3986 encoding of every byte except unreserved characters (`A-Z a-z 0-9 - . _ ~`). */
function encodeRfc3986(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function encodePath(objectName: string): string {
  return objectName.split("/").map(encodeRfc3986).join("/");
}

function canonicalQuery(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** `YYYYMMDDTHHMMSSZ` in UTC. */
function formatTimestamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

function pemToDer(pem: string): ArrayBuffer {
  const base64 = pem
    .replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "")
    .replace(/\\n/g, "")
    .replace(/\s+/g, "");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return bytes.buffer;
}

async function sha256Hex(text: string): Promise<string> {
  return toHex(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

function toHex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}
