// The dashboard's only script. Behaviour is attached through data- attributes (no inline script:
// the Content-Security-Policy forbids it), and everything it does is an enhancement: every page
// works without it.
(function () {
  "use strict";

  const CALM_TOAST_MS = 8000;

  function dismiss(toast) {
    toast.classList.add("toast--leaving");
    window.setTimeout(function () { toast.remove(); }, 200);
  }

  function armToasts(root) {
    root.querySelectorAll("[data-toast]:not([data-armed])").forEach(function (toast) {
      toast.setAttribute("data-armed", "");
      // Good news fades by itself; warnings and errors stay until dismissed.
      if (toast.classList.contains("toast--success") || toast.classList.contains("toast--info")) {
        window.setTimeout(function () { dismiss(toast); }, CALM_TOAST_MS);
      }
    });
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-dismiss-toast]");
    if (button) {
      dismiss(button.closest("[data-toast]"));
    }
  });

  document.addEventListener("DOMContentLoaded", function () { armToasts(document); });
  document.addEventListener("htmx:load", function (event) { armToasts(event.target.ownerDocument || document); });
})();

// The team switcher is a <details> menu (it works without this); a click elsewhere or Escape closes it.
(function () {
  "use strict";
  function closeAll(except) {
    document.querySelectorAll("details[data-closes-on-outside-click][open]").forEach(function (menu) {
      if (menu !== except) { menu.removeAttribute("open"); }
    });
  }
  document.addEventListener("click", function (event) {
    closeAll(event.target.closest("details[data-closes-on-outside-click]"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { closeAll(null); }
  });
})();
