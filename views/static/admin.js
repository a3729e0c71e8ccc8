// The admin console's one script: buttons with data-copy="<element id>" copy that element's text
// (or an input's value) to the clipboard and say so. Everything else works without it.
'use strict';
document.addEventListener('click', function (event) {
  var button = event.target instanceof window.Element ? event.target.closest('[data-copy]') : null;
  if (!button) return;
  var source = document.getElementById(button.getAttribute('data-copy') || '');
  if (!source) return;
  event.preventDefault();
  var text = 'value' in source && typeof source.value === 'string' ? source.value : source.textContent || '';
  if (!button.hasAttribute('data-copy-label')) button.setAttribute('data-copy-label', button.textContent || 'Copy');
  var label = button.getAttribute('data-copy-label');
  var say = function (words) {
    button.textContent = words;
    window.setTimeout(function () {
      button.textContent = label;
    }, 2000);
  };
  if (window.navigator.clipboard && window.isSecureContext) {
    window.navigator.clipboard.writeText(text.trim()).then(
      function () {
        say('Copied');
      },
      function () {
        say('Copy failed: select the text instead');
      },
    );
  } else {
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    if (selection) {
      selection.removeAllRanges();
      selection.addRange(range);
    }
    say(document.execCommand && document.execCommand('copy') ? 'Copied' : 'Selected: press Ctrl+C');
  }
});
