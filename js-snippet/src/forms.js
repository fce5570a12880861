// Forms without code: <form data-consent-form="SLUG"> with ordinary inputs. The banner loads
// this script only on pages that have such a form; the service serves it with the site's form
// configuration in place of __CONSENT_FORMS__ (fields, the separate-consent wording per locale
// with its hash, the category each form needs). For each form it adds the separate-consent
// checkbox (unticked, the exact wording for the page's language) and a live status line,
// refuses to send before the form's category is granted and the box is ticked, and posts the
// form with the visitor's token to the lead or subscription endpoint.
import { match, pickLocale } from "./locale.js";
import { FORM_STRINGS } from "./forms-strings.js";

const d = document;
const w = window;

// The visitor token from the banner's cookie (URI-encoded JSON, `t`), or null.
export const visitorToken = (cookieName) => {
  const found = d.cookie.match("(?:^|; )" + cookieName + "=([^;]*)");
  try {
    return (found && JSON.parse(decodeURIComponent(found[1])).t) || null;
  } catch (e) {
    return null;
  }
};

// A decision is acknowledged (and its token stored) a moment after the click: wait a little.
const tokenSoon = (cookieName) =>
  new Promise((resolve) => {
    let tries = 0;
    const poll = () => {
      const token = visitorToken(cookieName);
      if (token || ++tries > 40) resolve(token);
      else setTimeout(poll, 150);
    };
    poll();
  });

const h = (tag, attrs, text) => {
  const e = d.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text != null) e.textContent = text;
  return e;
};

let counter = 0;

export function wire(form, F, api, language) {
  const slug = form.getAttribute("data-consent-form");
  const def = F.forms.find((x) => x.slug == slug);
  if (form.hasAttribute("data-consent-form-ready")) return;
  form.setAttribute("data-consent-form-ready", "");
  if (!def) return console.warn("consent-service forms: this site has no form " + slug);
  const strings = FORM_STRINGS[match(language, Object.keys(FORM_STRINGS)) || "en"];
  const id = "cs-form-" + ++counter;
  const names = F.categories[def.category] || {};
  const categoryName = names[language] || names[F.default_locale] || def.category;

  for (const field of def.fields) {
    const input = form.elements[field.name];
    if (input && field.required && input.setAttribute) input.setAttribute("required", "");
  }

  // The separate consent: the exact text for this language, never ticked in advance.
  let box = null;
  let wording = null;
  if (def.separate_consent) {
    const locale = pickLocale(
      Object.keys(def.separate_consent),
      [language, F.default_locale],
      Object.keys(def.separate_consent)[0],
    );
    wording = def.separate_consent[locale];
    box = h("input", { type: "checkbox", name: "separate_consent", id: id + "-consent" });
    box.checked = false;
    const label = h("label", { for: id + "-consent", class: "cs-form-consent", lang: locale });
    label.append(box, " ", h("span", {}, wording.text));
    const submit = form.querySelector("[type=submit],button:not([type])");
    submit ? submit.before(label) : form.append(label);
  }

  // One live region per form: the site may place it (data-consent-status), else it follows.
  let status = form.querySelector("[data-consent-status]");
  if (!status) {
    status = h("p", { class: "cs-form-status" });
    form.append(status);
  }
  status.setAttribute("role", "status");
  status.setAttribute("aria-live", "polite");
  const say = (text, kind, action) => {
    status.textContent = text;
    status.setAttribute("data-state", kind);
    if (action) status.append(" ", action);
  };

  const marked = [];
  const clearMarks = () => {
    for (const [input, note] of marked.splice(0)) {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      note.remove();
    }
  };
  const mark = (errors) => {
    for (const name in errors) {
      const input = form.elements[name];
      if (!input || !input.setAttribute) continue;
      const note = h("span", { id: id + "-" + name + "-error", class: "cs-form-error" });
      note.textContent = [].concat(errors[name]).join(" ");
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", note.id);
      input.after(note);
      marked.push([input, note]);
    }
    if (marked.length) marked[0][0].focus();
  };

  const refuseWithoutConsent = () => {
    const open = h("button", { type: "button", class: "cs-form-open" }, strings.open);
    open.onclick = () => api.open();
    say(strings.consent.replace("%s", categoryName), "refused", open);
  };

  api.on("change", () => {
    if (status.getAttribute("data-state") == "refused" && api.get(def.category))
      say("", "ready");
  });

  const post = (path, body) =>
    fetch(F.api_base + "/api/v1/sites/" + F.site_key + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    }).then((response) =>
      response
        .json()
        .catch(() => ({}))
        .then((answer) => ({ status: response.status, answer })),
    );

  let sending = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (sending) return;
    clearMarks();
    if (!api.get(def.category)) return refuseWithoutConsent();
    if (box && !box.checked) {
      box.focus();
      return say(strings.tick, "refused");
    }
    const fields = {};
    for (const field of def.fields) {
      const input = form.elements[field.name];
      const value = input && input.value != null ? String(input.value).trim() : "";
      if (value) fields[field.name] = value;
    }
    sending = true;
    form.setAttribute("aria-busy", "true");
    say(strings.sending, "sending");
    try {
      const token = await tokenSoon(F.cookie_name);
      if (!token && def.purpose == "lead") return say(strings.pending, "error");
      const { status: code, answer } =
        def.purpose == "lead"
          ? await post("/leads", {
              visitor_token: token,
              form: def.slug,
              fields,
              ...(wording && { separate_consent: { granted: true, wording_hash: wording.hash } }),
            })
          : await post("/subscriptions", {
              email: fields.email || "",
              locale: language,
              form: def.slug,
              wording_hash: wording ? wording.hash : "",
              ...(token && { visitor_token: token }),
            });
      if (code == 202) {
        form.reset();
        say(strings[def.purpose], "sent");
        form.dispatchEvent(new CustomEvent("consent:sent", { detail: answer, bubbles: true }));
      } else if (code == 403 && /_consent_missing$/.test(answer.status || "")) {
        answer.status == "separate_consent_missing"
          ? say(strings.tick, "refused")
          : refuseWithoutConsent();
      } else if (code == 422 && answer.errors) {
        mark(answer.errors.fields || answer.errors);
        say(marked.length ? strings.check : answer.message || strings.failed, "error");
      } else say(answer.message || strings.failed, "error");
    } catch (e) {
      say(strings.failed, "error");
    } finally {
      sending = false;
      form.removeAttribute("aria-busy");
    }
  });
}

export function boot(F) {
  if (w.consentServiceForms) return;
  w.consentServiceForms = F;
  const language = pickLocale(
    F.locales,
    [d.documentElement.lang, ...(navigator.languages || [])],
    F.default_locale,
  );
  // Forms on the page now, and those the site's code adds later.
  const start = (api) => {
    const all = () =>
      d.querySelectorAll("form[data-consent-form]").forEach((form) => wire(form, F, api, language));
    all();
    new MutationObserver(all).observe(d.documentElement, { childList: true, subtree: true });
  };
  const service = w.consentService;
  service && service.ready
    ? service.ready.then(start)
    : console.warn("consent-service forms: the banner script is missing");
}
