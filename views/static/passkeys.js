// Passkeys (issue 15), with @simplewebauthn/browser (served as /static/webauthn/simplewebauthn-browser.js, loaded first).
// A form with data-passkey="register" or "authenticate" and data-options="<URL>": on submit, the options are
// fetched from the server (a POST with the form's _csrf and name), the browser asks the authenticator, and the
// form is sent with the answer in its hidden `challenge` and `response` fields. data-autofill on an
// "authenticate" form also offers the passkeys in the e-mail field's autofill (conditional UI) where the
// browser can. data-error names the element that shows what went wrong. Without a browser that can, the
// forms say so; every other way to sign in works without this script.
'use strict';
(function () {
  var wa = window.SimpleWebAuthnBrowser;

  function hidden(form, name) {
    var input = form.querySelector('input[name="' + name + '"]');
    if (!input) {
      input = document.createElement('input');
      input.type = 'hidden';
      input.name = name;
      form.appendChild(input);
    }
    return input;
  }

  function say(form, message) {
    var box = document.getElementById(form.getAttribute('data-error') || '');
    if (!box) return;
    box.textContent = message;
    box.hidden = !message;
  }

  function explain(err, registering) {
    var name = err && err.name;
    if (name === 'NotAllowedError') return 'The passkey was not used: it was cancelled or took too long. Try again.';
    if (name === 'InvalidStateError' && registering) return 'This passkey is registered to your account already.';
    if (name === 'SecurityError') return 'Passkeys do not work on this address. Use the address of this site as the administrator set it up.';
    return (err && err.message) || 'Something went wrong with the passkey. Try again.';
  }

  function fetchOptions(form) {
    var body = new URLSearchParams();
    body.set('_csrf', hidden(form, '_csrf').value);
    var name = form.querySelector('input[name="name"]');
    if (name) body.set('name', name.value);
    return window
      .fetch(form.getAttribute('data-options'), { method: 'POST', body: body, credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (answer) {
        return answer.json().then(function (json) {
          if (!answer.ok) throw new Error(json.error || 'The server refused the passkey request.');
          return json;
        });
      });
  }

  function send(form, challengeId, response) {
    hidden(form, 'challenge').value = challengeId;
    hidden(form, 'response').value = JSON.stringify(response);
    form.submit();
  }

  function ceremony(form, autofill) {
    var registering = form.getAttribute('data-passkey') === 'register';
    var button = form.querySelector('button[type="submit"]');
    if (!autofill) say(form, '');
    return fetchOptions(form)
      .then(function (json) {
        if (button && !autofill) button.disabled = true;
        var run = registering
          ? wa.startRegistration({ optionsJSON: json.options })
          : wa.startAuthentication({ optionsJSON: json.options, useBrowserAutofill: !!autofill });
        return run.then(function (response) {
          send(form, json.challengeId, response);
        });
      })
      .catch(function (err) {
        if (button) button.disabled = false;
        // A conditional request is cancelled whenever the button starts another one: nothing to say.
        if (autofill || (err && err.name === 'AbortError')) return;
        say(form, explain(err, registering));
      });
  }

  var forms = document.querySelectorAll('form[data-passkey]');
  for (var i = 0; i < forms.length; i += 1) {
    var form = forms[i];
    if (!wa || !wa.browserSupportsWebAuthn()) {
      say(form, 'This browser cannot use passkeys.');
      var button = form.querySelector('button[type="submit"]');
      if (button) button.disabled = true;
      continue;
    }
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      ceremony(event.currentTarget, false);
    });
    if (form.hasAttribute('data-autofill')) {
      (function (f) {
        wa.browserSupportsWebAuthnAutofill().then(function (yes) {
          if (yes) ceremony(f, true);
        });
      })(form);
    }
  }
})();
