/**
 * Reads a request body up to a byte limit and parses it as a JSON object: the
 * one reader behind the registration guard and the device enrollment endpoint,
 * which each word the refusal their own way. No framework or domain words here.
 */
export type JsonObjectBody =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; problem: 'too_large' | 'not_json' | 'not_object' };

export async function readJsonObjectBody(stream: AsyncIterable<unknown>, limit: number, declaredLength = 0): Promise<JsonObjectBody> {
  if (declaredLength > limit) return { ok: false, problem: 'too_large' };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) return { ok: false, problem: 'too_large' };
    chunks.push(buffer);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return { ok: false, problem: 'not_json' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, problem: 'not_object' };
  return { ok: true, value: parsed as Record<string, unknown> };
}
