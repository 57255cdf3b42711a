// The public Flyve validation page: reads the activation link's fragment (#!/account/ID/validation/TOKEN)
// into the form, which the browser never sends to a server by itself. Loaded after the form.
(function () {
  var form = document.getElementById("validate-form");
  var idField = document.getElementById("validation_id");
  var tokenField = document.getElementById("token");
  var found = /^#!\/account\/(\d+)\/validation\/([^\/?#\s]+)$/.exec(window.location.hash);
  if (found) {
    idField.value = found[1];
    tokenField.value = found[2];
  }
  if (!idField.value || !tokenField.value) {
    document.getElementById("link-missing").hidden = false;
    return;
  }
  document.getElementById("validation-number").textContent = idField.value;
  form.hidden = false;
  form.addEventListener("submit", function () {
    var button = document.getElementById("activate");
    button.disabled = true;
    button.textContent = "Activating…";
  });
})();
