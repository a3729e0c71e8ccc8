// keycloak-js's third-party cookie check, step 1: set a test cookie the way the
// realm's session cookie is set (SameSite=Lax), then look for it in step 2. A
// browser that refuses it in this frame would not send the session cookie to
// the session iframe either.
document.cookie = `gh_cookie_check=1; SameSite=Lax; Max-Age=60${window.location.protocol === 'https:' ? '; Secure' : ''}`;
window.location.replace('step2.html');
