// The new-case form: when the customer picker (picker.js) changes the customer, list that customer's
// subscriptions only and offer its usual currency (unless the user chose one). Without this script the form
// has a button that shows the page again for the customer typed; with it, the button is not needed.
(function () {
  "use strict";

  function option(value, label) {
    var element = document.createElement("option");
    element.value = value;
    element.textContent = label;
    return element;
  }

  function setUp(select) {
    var customer = document.getElementById(select.dataset.customerField);
    var currency = document.getElementById(select.dataset.currencyField);
    var form = select.form;
    var refresh = form && form.querySelector("[data-refresh]");
    var currencyChosen = false;
    var asked = 0;
    if (!customer) return;
    if (refresh) refresh.remove();  // .button would show it even when hidden
    if (currency) currency.addEventListener("change", function () { currencyChosen = true; });

    function fill(subscriptions, empty) {
      var keep = select.value;
      select.textContent = "";
      select.appendChild(option("", empty));
      subscriptions.forEach(function (subscription) {
        select.appendChild(option(String(subscription.id), subscription.label));
      });
      select.value = keep;
      if (select.value !== keep) select.value = "";
    }

    function load() {
      var number = ++asked;
      var id = customer.value;
      if (!/^[0-9]{1,18}$/.test(id)) {
        fill([], select.dataset.emptyFirst);
        return;
      }
      var url = select.dataset.subscriptions.replace(/\/0\/subscriptions\/$/, "/" + id + "/subscriptions/");
      select.setAttribute("aria-busy", "true");
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (number !== asked) return;  // a later customer was picked meanwhile
          select.removeAttribute("aria-busy");
          if (!data) { fill([], select.dataset.emptyFirst); return; }
          var found = data.subscriptions || [];
          fill(found, found.length ? select.dataset.emptyChoose : select.dataset.emptyNone);
          var offered = currency && /^[A-Z]{3}$/.test(data.currency || "") &&
            currency.querySelector('option[value="' + data.currency + '"]');
          if (offered && !currencyChosen) currency.value = data.currency;
        })
        .catch(function () {
          if (number !== asked) return;
          select.removeAttribute("aria-busy");
          fill([], select.dataset.emptyFirst);  // never leave the previous customer's subscriptions
        });
    }

    customer.addEventListener("change", load);
  }

  document.querySelectorAll("select[data-subscriptions]").forEach(setUp);
})();
