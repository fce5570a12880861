// The visitor's consent state, kept in one first-party cookie, and what it allows. No drawing,
// no network: it runs headless (the tests run it in Node with a stand-in document).
//
// Cookie value (URI-encoded JSON): t visitor token, c {slug: bool}, p policy label, b banner
// hash, at decision time (ms), d decided, g GPC honoured, q a decision waits in the queue,
// r everything refused (then asked again after reask_days, not the lifetime), u the rules.
//
// Under the `opt_out` and `notice_only` rules (C.rules) a category nobody refused is allowed;
// under `opt_in` and `opt_in_separate` nothing optional is before a choice.
let C, cats, policy, lifetime, reask, value;
export let optional, optIn;

export function initState(config) {
  C = config;
  cats = C.categories;
  optional = cats.filter((c) => !c.necessary);
  policy = C.policy_version;
  lifetime = C.lifetime_days * 864e5;
  reask = (C.reask_days || C.lifetime_days) * 864e5;
  optIn = !C.rules || C.rules.startsWith("opt_in");
  value = null;
  try {
    const found = document.cookie.match("(?:^|; )" + C.cookie_name + "=([^;]*)");
    value = found && JSON.parse(decodeURIComponent(found[1]));
  } catch (e) {}
}

export const read = () => value;

const life = () => (value?.r ? reask : lifetime);

// Ask again when the lifetime (after a refusal of everything: reask_days) passed or a material
// policy took effect...
export const expired = () =>
  !value || Date.now() - value.at > life() || (policy?.material && value.p != policy.label);

// A choice made under other rules (u) is no consent where consent is asked for: a notice
// closed in California does not count in Germany, nor a consent without the separate one in
// China.
const voided = () => expired() || (optIn && value.u && value.u != C.rules);

// ...or when a category is new (the others keep their values meanwhile).
export const current = () => !voided() && !!value.d && optional.every((c) => c.slug in value.c);

// true or false, or null while undecided (or to be asked again); necessary is always true.
export const get = (slug) => {
  const cat = cats.find((c) => c.slug == slug);
  if (!cat) return null;
  if (cat.necessary) return true;
  return voided() || !(slug in value.c) ? (optIn ? null : true) : value.c[slug];
};

export const save = (next) => {
  if (next) value = next;
  document.cookie =
    C.cookie_name +
    "=" +
    encodeURIComponent(JSON.stringify(value)) +
    ";path=/;max-age=" +
    life() / 1e3 +
    ";samesite=lax" +
    (C.cookie_domain ? ";domain=" + C.cookie_domain : "") +
    (location.protocol == "https:" ? ";secure" : "");
};

// The state after a choice: the token stays the visitor's, the rest describes this choice.
export const next = (choices, extra) => ({
  t: value?.t,
  c: choices,
  p: policy?.label,
  b: C.banner_version,
  u: C.rules,
  at: Date.now(),
  ...extra,
});

export const snapshot = () => {
  const choices = {};
  for (const c of cats) choices[c.slug] = get(c.slug);
  return {
    decided: current(),
    choices,
    policy_version: value?.p,
    banner_version: value?.b,
    updated_at: value ? new Date(value.at).toISOString() : null,
    gpc: !!(value?.g),
  };
};
