// The customer picker: a text field that suggests the partner's customers as you type (ARIA combobox with a
// list box) and keeps the chosen customer's id in a hidden field. Without this script the text field still
// works: the server narrows by the name typed.
(function () {
  "use strict";

  function setUp(input) {
    var hidden = document.getElementById(input.dataset.pickerId);
    var list = document.createElement("ul");
    var active = -1;
    var results = [];
    var timer = null;
    var asked = 0;

    list.id = input.id + "-suggestions";
    list.className = "picker__list";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    input.parentNode.classList.add("picker");
    input.after(list);
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function highlight(index) {
      var options = list.children;
      if (active >= 0 && options[active]) options[active].removeAttribute("aria-selected");
      active = index;
      if (index >= 0 && options[index]) {
        options[index].setAttribute("aria-selected", "true");
        input.setAttribute("aria-activedescendant", options[index].id);
        options[index].scrollIntoView({ block: "nearest" });
      }
    }

    function pick(index) {
      var chosen = results[index];
      if (!chosen) return;
      input.value = chosen.name;
      setChosen(String(chosen.id));
      close();
    }

    // Tell the page (e.g. case-form.js) when the chosen customer changes.
    function setChosen(id) {
      if (hidden.value === id) return;
      hidden.value = id;
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function show(found) {
      results = found;
      list.textContent = "";
      found.forEach(function (customer, index) {
        var option = document.createElement("li");
        var tenant = document.createElement("span");
        option.id = list.id + "-" + index;
        option.setAttribute("role", "option");
        option.textContent = customer.name + " ";
        tenant.className = "muted";
        tenant.textContent = customer.tenant;
        option.appendChild(tenant);
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();  // keep the focus in the field
          pick(index);
        });
        list.appendChild(option);
      });
      list.hidden = !found.length;
      input.setAttribute("aria-expanded", found.length ? "true" : "false");
      active = -1;
    }

    function search() {
      var number = ++asked;
      var url = input.dataset.picker + "?q=" + encodeURIComponent(input.value.trim());
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { results: [] }; })
        .then(function (data) { if (number === asked && document.activeElement === input) show(data.results); })
        .catch(function () { close(); });
    }

    input.addEventListener("input", function () {
      setChosen("");  // a new text is not the customer picked before
      clearTimeout(timer);
      timer = setTimeout(search, 150);
    });
    input.addEventListener("focus", function () { if (!input.value) search(); });
    input.addEventListener("blur", close);
    input.addEventListener("keydown", function (event) {
      if (list.hidden) {
        if (event.key === "ArrowDown") { search(); event.preventDefault(); }
        return;
      }
      if (event.key === "ArrowDown") { highlight(Math.min(active + 1, results.length - 1)); event.preventDefault(); }
      else if (event.key === "ArrowUp") { highlight(Math.max(active - 1, 0)); event.preventDefault(); }
      else if (event.key === "Enter" && active >= 0) { pick(active); event.preventDefault(); }
      else if (event.key === "Escape") { close(); event.preventDefault(); }
    });
  }

  document.querySelectorAll("input[data-picker]").forEach(setUp);
})();
