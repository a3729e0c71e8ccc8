/**
 * Reads a request body up to a byte limit (`readBody`: the one reader behind
 * every endpoint that reads a body before oidc-provider or a route does), and
 * parses it as a JSON object (`readJsonObjectBody`: the registration guard and
 * the device enrollment endpoint, which each word the refusal their own way).
 * No framework or domain words here.
 */
export type JsonObjectBody = { ok: true; value: Record<string, unknown> } | { ok: false; problem: 'too_large' | 'not_json' | 'not_object' };

/**
 * The body's chunks up to `limit` bytes; `complete` is false when there is more
 * (or the declared length is over the limit, then nothing is read). Whether the
 * rest stays readable is the caller's choice of `stream` (a request's
 * `iterator({ destroyOnReturn: false })` keeps it).
 */
export async function readBody(stream: AsyncIterable<unknown>, limit: number, declaredLength = 0): Promise<{ chunks: Buffer[]; complete: boolean }> {
  const chunks: Buffer[] = [];
  if (declaredLength > limit) return { chunks, complete: false };
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    chunks.push(buffer);
    size += buffer.length;
    if (size > limit) return { chunks, complete: false };
  }
  return { chunks, complete: true };
}

export async function readJsonObjectBody(stream: AsyncIterable<unknown>, limit: number, declaredLength = 0): Promise<JsonObjectBody> {
  const { chunks, complete } = await readBody(stream, limit, declaredLength);
  if (!complete) return { ok: false, problem: 'too_large' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return { ok: false, problem: 'not_json' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, problem: 'not_object' };
  return { ok: true, value: parsed as Record<string, unknown> };
}
