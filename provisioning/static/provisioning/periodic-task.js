// The periodic task form (django-celery-beat): under the crontab chosen, its schedule in words,
// as the library's own page shows it with an inline script this site's policy does not run.
(function () {
  var data = document.getElementById("readable-crontabs");
  var select = document.getElementById("id_crontab");
  var help = document.querySelector(".field-crontab .help");
  if (!data || !select || !help) {
    return;
  }
  // the library's read-only "Crontab translation" row says the saved one's words again: this
  // reading replaces it, as the library's own script does (without a script the row stays)
  var translation = document.querySelector(".field-crontab_translation");
  if (translation) {
    translation.hidden = true;
  }
  var readable = JSON.parse(data.textContent);
  var reading = document.createElement("div");
  reading.className = "crontab-in-words";
  help.appendChild(reading);
  var show = function () {
    var words = readable[select.value];
    reading.textContent = words ? "In words: " + words : "";
  };
  select.addEventListener("change", show);
  show();
})();
