// Gatehouse's answer to keycloak-js's session check. The page framing this one
// posts "<client_id> <sid>"; we ask our own origin whether this browser's realm
// session still has that sid for the client (refused unless the framing origin
// is one of the client's web origins) and answer "unchanged", "changed" or
// "error", to that origin only.
window.addEventListener('message', async (event) => {
  if (typeof event.data !== 'string' || !event.source) return;
  const parts = event.data.split(' ');
  if (parts.length !== 2) return;
  const query = new URLSearchParams({ client_id: parts[0], origin: event.origin, session_state: parts[1] });
  let answer = 'error';
  try {
    const res = await fetch(`${window.location.pathname}/status?${query}`, { credentials: 'same-origin', cache: 'no-store' });
    const text = res.ok ? await res.text() : '';
    if (text === 'changed' || text === 'unchanged') answer = text;
  } catch {
    answer = 'error';
  }
  event.source.postMessage(answer, event.origin);
});
