/**
 * Malformed enrollment requests (SPEC 6.2: "Malformed body: 400 with a
 * message"): a table of bad bodies, content types and sizes, each answered 400
 * with `input.invalid` and a message saying what is wrong, never a 5xx, never
 * a client. The checks happen before the database is asked, so SQLite alone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { deviceConfig, enrollRaw, newManufacturerId } from '../helpers/devices.ts';
import { count } from '../helpers/registration.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

const json = 'application/json';
const notJson = /^send the request as JSON \(Content-Type: application\/json\)$/;
const notObject = /^the request body must be a JSON object with "token" and "manufacturerId"$/;
const tokenMissing = /^"token" is missing: send the registration JWT as a string$/;
const idMissing = /^"manufacturerId" is missing: send the device's manufacturer id as a string$/;
const idInvalid = /^"manufacturerId" must be 1 to 128 letters, digits, and \. _ : - \(starting with a letter or digit\)$/;
const tooLarge = /^the request body is larger than 16384 bytes$/;

/** A syntactically fine JWT-looking token: the body checks come first, so it is never verified in these cases. */
const token = 'eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJ4In0.c2lnbmF0dXJl';
const body = (value: unknown) => JSON.stringify(value);

const cases: { name: string; body?: string; contentType?: string; message: RegExp }[] = [
  { name: 'no body and no content type', message: notJson },
  { name: 'no body with a JSON content type', body: '', contentType: json, message: /^the request body is not valid JSON$/ },
  { name: 'text/plain', body: body({ token, manufacturerId: 'sn-1' }), contentType: 'text/plain', message: notJson },
  {
    name: 'form-urlencoded',
    body: new URLSearchParams({ token, manufacturerId: 'sn-1' }).toString(),
    contentType: 'application/x-www-form-urlencoded',
    message: notJson,
  },
  {
    name: 'multipart',
    body: '--b\r\nContent-Disposition: form-data; name="token"\r\n\r\nx\r\n--b--\r\n',
    contentType: 'multipart/form-data; boundary=b',
    message: notJson,
  },
  { name: 'non-JSON with a JSON content type', body: '{"token": ', contentType: json, message: /^the request body is not valid JSON$/ },
  {
    name: 'JSON with trailing garbage',
    body: `${body({ token, manufacturerId: 'sn-1' })}x`,
    contentType: json,
    message: /^the request body is not valid JSON$/,
  },
  { name: 'a JSON array', body: body([token, 'sn-1']), contentType: json, message: notObject },
  { name: 'a JSON string', body: body('hello'), contentType: json, message: notObject },
  { name: 'a JSON number', body: '42', contentType: json, message: notObject },
  { name: 'JSON null', body: 'null', contentType: json, message: notObject },
  { name: 'JSON true', body: 'true', contentType: json, message: notObject },
  { name: 'an empty object', body: '{}', contentType: json, message: tokenMissing },
  { name: 'no token', body: body({ manufacturerId: 'sn-1' }), contentType: json, message: tokenMissing },
  { name: 'no manufacturerId', body: body({ token }), contentType: json, message: idMissing },
  { name: 'token a number', body: body({ token: 42, manufacturerId: 'sn-1' }), contentType: json, message: tokenMissing },
  { name: 'token null', body: body({ token: null, manufacturerId: 'sn-1' }), contentType: json, message: tokenMissing },
  { name: 'token an array', body: body({ token: [token], manufacturerId: 'sn-1' }), contentType: json, message: tokenMissing },
  { name: 'token an object', body: body({ token: { jwt: token }, manufacturerId: 'sn-1' }), contentType: json, message: tokenMissing },
  { name: 'manufacturerId a number', body: body({ token, manufacturerId: 12345 }), contentType: json, message: idMissing },
  { name: 'manufacturerId true', body: body({ token, manufacturerId: true }), contentType: json, message: idMissing },
  { name: 'manufacturerId an array', body: body({ token, manufacturerId: ['sn-1'] }), contentType: json, message: idMissing },
  { name: 'token empty', body: body({ token: '', manufacturerId: 'sn-1' }), contentType: json, message: tokenMissing },
  { name: 'manufacturerId empty', body: body({ token, manufacturerId: '' }), contentType: json, message: idMissing },
  {
    name: 'token longer than 4096 characters',
    body: body({ token: 'a'.repeat(4097), manufacturerId: 'sn-1' }),
    contentType: json,
    message: /^"token" is longer than 4096 characters$/,
  },
  { name: 'manufacturerId of 129 characters', body: body({ token, manufacturerId: 'a'.repeat(129) }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with a space', body: body({ token, manufacturerId: 'sn 1' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with a slash', body: body({ token, manufacturerId: 'sn/1' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with a backslash', body: body({ token, manufacturerId: 'sn\\1' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with unicode', body: body({ token, manufacturerId: 'gerät-1' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with an emoji', body: body({ token, manufacturerId: 'sn-🔥' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with a newline', body: body({ token, manufacturerId: 'sn-1\nsn-2' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with a NUL', body: body({ token, manufacturerId: 'sn-1\u0000' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with a trailing space', body: body({ token, manufacturerId: 'sn-1 ' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId starting with a dash', body: body({ token, manufacturerId: '-sn-1' }), contentType: json, message: idInvalid },
  { name: 'manufacturerId with SQL', body: body({ token, manufacturerId: "sn' or 1=1 --" }), contentType: json, message: idInvalid },
  { name: 'a body over 16 KiB', body: body({ token, manufacturerId: 'sn-1', padding: 'x'.repeat(17 * 1024) }), contentType: json, message: tooLarge },
  { name: 'a body of 1 MiB', body: body({ token, manufacturerId: 'sn-1', padding: 'x'.repeat(1024 * 1024) }), contentType: json, message: tooLarge },
];

describe('malformed enrollment requests', () => {
  let db: TestDatabase;
  let server: TestServer;
  const clients = () => count(server.gh, 'registered_client');

  beforeAll(async () => {
    db = await createTestDatabase('sqlite');
    server = await startTestServer(db, deviceConfig());
  });
  afterAll(async () => {
    await server?.stop();
    await db?.drop();
  });

  it.each(cases)('answers 400 with a message for $name', async ({ body: sent, contentType, message }) => {
    const answer = await enrollRaw(server.url, { body: sent, contentType });
    expect(answer.status, answer.text).toBe(400);
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.body.error).toBe('input.invalid');
    expect(String(answer.body.error_description)).toMatch(message);
    expect(await clients()).toBe(0);
  });

  it('refuses a streamed (chunked) body over 16 KiB that declares no length', async () => {
    const chunk = new TextEncoder().encode(`{"token":"${token}","manufacturerId":"sn-1","padding":"`);
    const filler = new TextEncoder().encode('x'.repeat(4096));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(chunk);
        else if (sent < 8) controller.enqueue(filler);
        else controller.close();
        sent += 1;
      },
    });
    const answer = await enrollRaw(server.url, { body: stream, contentType: json });
    expect(answer.status, answer.text).toBe(400);
    expect(String(answer.body.error_description)).toMatch(tooLarge);
  });

  it('reads a body of just under 16 KiB, and a manufacturerId of 128 characters passes the checks (the token is then judged)', async () => {
    const padded = body({ token, manufacturerId: newManufacturerId(), padding: 'x'.repeat(16 * 1024 - 200) });
    expect(padded.length).toBeLessThan(16 * 1024);
    const nearLimit = await enrollRaw(server.url, { body: padded, contentType: json });
    expect(nearLimit.status, nearLimit.text).toBe(401);
    const longId = await enrollRaw(server.url, {
      body: body({ token, manufacturerId: `A${'b'.repeat(126)}9` }),
      contentType: 'application/json; charset=utf-8',
    });
    expect(longId.status, longId.text).toBe(401);
    expect(longId.body.error).toBe('device.invalid_token');
  });

  it('never answers 5xx to odd requests (other methods, deeply nested JSON, odd content types)', async () => {
    const odd = [
      await enrollRaw(server.url, { method: 'GET' }),
      await enrollRaw(server.url, { method: 'PUT', body: body({ token, manufacturerId: 'sn-1' }), contentType: json }),
      await enrollRaw(server.url, { method: 'DELETE' }),
      await enrollRaw(server.url, { body: `{"token":"${token}","manufacturerId":"sn-1","x":${'['.repeat(5000)}${']'.repeat(5000)}}`, contentType: json }),
      await enrollRaw(server.url, { body: body({ token, manufacturerId: 'sn-1' }), contentType: 'application/json; charset=latin1' }),
      await enrollRaw(server.url, { body: `{"token":"${token}","manufacturerId":"sn-1","__proto__":{"token":1}}`, contentType: json }),
      await enrollRaw(server.url, { body: '\u00ff\u00fe{', contentType: json }),
    ];
    for (const answer of odd) {
      expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
      expect(answer.status, answer.text).toBeLessThan(500);
    }
    expect(odd[0]!.status).toBe(405);
    // A browser's Accept header still gets JSON from this API.
    const browser = await fetch(`${server.url}/api/register-device`, {
      method: 'POST',
      headers: { accept: 'text/html', 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(browser.status).toBe(400);
    expect(browser.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await clients()).toBe(0);
  });
});
