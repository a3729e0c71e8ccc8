// Step 2: tell the framing page whether the test cookie came back. One word, the
// same for every visitor, so any origin may receive it.
const kept = document.cookie.split('; ').includes('gh_cookie_check=1');
document.cookie = 'gh_cookie_check=; Max-Age=0';
window.parent.postMessage(kept ? 'supported' : 'unsupported', '*');
