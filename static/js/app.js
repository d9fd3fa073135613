// The dashboard's only script. Behaviour is attached through data- attributes (no inline script:
// the Content-Security-Policy forbids it), and everything it does is an enhancement: every page
// works without it.
(function () {
  "use strict";

  const CALM_TOAST_MS = 8000;
  const ANNOUNCE_DELAY_MS = 250;

  function dismiss(toast) {
    toast.classList.add("toast--leaving");
    window.setTimeout(function () { toast.remove(); }, 200);
  }

  function armToasts(root) {
    root.querySelectorAll("[data-toast]:not([data-armed])").forEach(function (toast) {
      toast.setAttribute("data-armed", "");
      toast.querySelectorAll("[data-dismiss-toast]").forEach(function (button) { button.hidden = false; });
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

  // A screen reader reads what changes in a live region, not what a new page already holds: the messages that
  // arrive with the page (most do, after a redirect) are taken out and put back once it has loaded.
  function announcePageToasts() {
    const region = document.getElementById("toasts");
    const arrived = region ? Array.from(region.querySelectorAll("[data-toast]")) : [];
    if (!arrived.length) { return; }
    arrived.forEach(function (toast) { toast.remove(); });
    window.setTimeout(function () {
      arrived.forEach(function (toast) { region.appendChild(toast); });
    }, ANNOUNCE_DELAY_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    armToasts(document);
    announcePageToasts();
  });
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

// Tells the server the browser's time zone (the `tz` cookie), so times show in it until the person
// chooses one on "Your time zone". Written only when missing or changed; without it, times are in UTC.
(function () {
  "use strict";
  let zone = "";
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (error) { return; }
  if (!/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) { return; }
  const sent = document.cookie.split("; ").find(function (part) { return part.indexOf("tz=") === 0; });
  if (sent && decodeURIComponent(sent.slice(3)) === zone) { return; }
  const secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax" + secure;
})();

// The archive dialog (H3): htmx loads the confirmation page's dialog partial into a <dialog data-dialog>;
// it opens as a modal (focus stays in it; Escape closes it), its text field takes focus, and on
// closing, focus goes back to the button that opened it. Without JavaScript the link opens the full page.
(function () {
  "use strict";
  let opener = null;

  document.addEventListener("click", function (event) {
    const trigger = event.target.closest("[data-opens-dialog]");
    if (trigger) { opener = trigger; }
    const closer = event.target.closest("dialog [data-close-dialog]");
    if (closer) {
      event.preventDefault();
      closer.closest("dialog").close();
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    const dialog = event.detail.target;
    if (!dialog || !dialog.matches("dialog[data-dialog]")) { return; }
    if (!dialog.open) { dialog.showModal(); }
    const field = dialog.querySelector("[data-dialog-focus]") || dialog.querySelector("[data-close-dialog]");
    if (field) { field.focus(); }
  });

  // Tab and Shift+Tab go round the open dialog's controls (the WAI-ARIA modal dialog pattern): alone, the
  // browser lets them leave it at either end, for its own toolbar or the page's body.
  const TABBABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type='hidden']), " +
    "select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
  document.addEventListener("keydown", function (event) {
    const dialog = event.key === "Tab" && document.querySelector("dialog[data-dialog][open]");
    if (!dialog) { return; }
    const stops = Array.from(dialog.querySelectorAll(TABBABLE)).filter(function (stop) {
      return stop.getClientRects().length > 0;
    });
    if (!stops.length) { return; }
    const current = document.activeElement;
    const outside = !dialog.contains(current);
    if (event.shiftKey && (outside || current === stops[0])) {
      event.preventDefault();
      stops[stops.length - 1].focus();
    } else if (!event.shiftKey && (outside || current === stops[stops.length - 1])) {
      event.preventDefault();
      stops[0].focus();
    }
  });

  document.addEventListener("close", function (event) {
    const dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement) || !dialog.matches("[data-dialog]")) { return; }
    dialog.replaceChildren();
    if (opener && document.contains(opener)) { opener.focus(); }
    opener = null;
  }, true);
})();

// The streams filter form updates the table as people choose (htmx), so its submit button would only
// repeat what already happened: it is hidden. Without JavaScript it stays a plain, prominent button.
(function () {
  "use strict";
  function quieten(root) {
    if (!window.htmx) { return; }
    root.querySelectorAll("[data-filters-submit]").forEach(function (button) {
      button.hidden = true;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { quieten(document); });
})();

// Creating and editing a stream (templates/streams/create.html). Remembers which fields the person has
// touched, so the check as they type speaks only of those; fills in the ID suggested from the name until
// they type an ID of their own (never over theirs, never while they are in the field); and offers only the
// unsubscribe handling of the chosen type. Without this script the server checks everything on submit.
(function () {
  "use strict";

  function touchedList(form) {
    const input = form.querySelector("input[name='touched']");
    return input ? input.value.split(/\s+/).filter(Boolean) : [];
  }

  function markTouched(form, name) {
    const input = form.querySelector("input[name='touched']");
    const names = touchedList(form);
    if (input && name && names.indexOf(name) < 0) {
      names.push(name);
      input.value = names.join(" ");
    }
  }

  function applyType(form) {
    const checked = form.querySelector("input[name='stream_type']:checked");
    const type = checked ? checked.value : "";
    form.querySelectorAll("[data-handling-for]").forEach(function (part) {
      const applies = !type || part.getAttribute("data-handling-for") === type;
      part.hidden = !applies;
      // A hidden choice is not sent, so a Transactional stream never carries a Broadcasts choice.
      part.querySelectorAll("input").forEach(function (input) { input.disabled = !applies; });
    });
    if (type === "Broadcasts" && !form.querySelector("input[name='unsubscribe_handling']:checked")) {
      const usual = form.querySelector("input[name='unsubscribe_handling'][value='Postmark']");
      if (usual) { usual.checked = true; }
    }
  }

  function applySuggestion(form) {
    const hint = form.querySelector("[data-suggested-id]");
    const input = form.querySelector("input[name='stream_id']");
    if (!hint || !input || touchedList(form).indexOf("stream_id") >= 0 || document.activeElement === input) {
      return;
    }
    input.value = hint.getAttribute("data-suggested-id");
  }

  function markInvalid(form) {
    form.querySelectorAll(".field__feedback").forEach(function (box) {
      const field = form.querySelector("[name='" + box.id.replace(/^id_/, "").replace(/_feedback$/, "") + "']");
      if (field && field.type !== "radio" && field.type !== "hidden") {
        if (box.querySelector(".field__errors")) {
          field.setAttribute("aria-invalid", "true");
        } else {
          field.removeAttribute("aria-invalid");
        }
      }
    });
  }

  function streamForms() {
    return document.querySelectorAll("form[data-stream-form]");
  }

  function onEdit(event) {
    const form = event.target.closest && event.target.closest("form[data-stream-form]");
    if (!form || !event.target.name || event.target.type === "hidden") { return; }
    markTouched(form, event.target.name);
    if (event.target.name === "stream_type") { applyType(form); }
  }

  document.addEventListener("input", onEdit);
  document.addEventListener("change", onEdit);

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-use-suggested-id]");
    const form = button && button.closest("form[data-stream-form]");
    const input = form && form.querySelector("input[name='stream_id']");
    if (!input) { return; }
    input.value = button.getAttribute("data-use-suggested-id");
    markTouched(form, "stream_id");
    input.focus();
    input.dispatchEvent(new Event("input", { bubbles: true }));
  });

  document.addEventListener("htmx:load", function () { streamForms().forEach(applyType); });
  document.addEventListener("DOMContentLoaded", function () { streamForms().forEach(applyType); });
  document.addEventListener("htmx:afterRequest", function () {
    streamForms().forEach(function (form) {
      applySuggestion(form);
      markInvalid(form);
    });
  });
})();

// htmx leaves an error answer unswapped (the htmx-config's responseHandling); one that names where it goes
// (HX-Retarget, e.g. the toast region for a form the CSRF check refused) is shown there, so the person sees why.
document.addEventListener("htmx:beforeSwap", function (event) {
  "use strict";
  const xhr = event.detail.xhr;
  if (xhr && xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
    event.detail.shouldSwap = true;
  }
});

// A table wider than its box scrolls sideways inside it (.table-wrap). Keyboard people can scroll it only if it
// can take focus, so a box that overflows becomes a named, focusable region; one that fits stays out of the tab order.
(function () {
  "use strict";
  function label(wrap) {
    const table = wrap.querySelector("table");
    const caption = table && table.caption;
    const named = table && (table.getAttribute("aria-label") || (caption && caption.textContent));
    return (named || "Table").trim() + " (scrolls sideways)";
  }
  function mark(root) {
    root.querySelectorAll(".table-wrap").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", label(wrap));
      } else if (wrap.getAttribute("role") === "region") {
        ["tabindex", "role", "aria-label"].forEach(function (name) { wrap.removeAttribute(name); });
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { mark(document); });
  document.addEventListener("htmx:afterSettle", function () { mark(document); });
  window.addEventListener("resize", function () { mark(document); });
})();
