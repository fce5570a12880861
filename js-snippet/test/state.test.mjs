// The consent state and the language choice, headless: Node's test runner, a stand-in document
// with a cookie jar, and a clock the tests move.
import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import { match, pickLocale, isRtl } from "../src/locale.js";
import * as state from "../src/state.js";

const DAY = 864e5;
const config = (overrides = {}) => ({
  cookie_name: "cs_consent",
  lifetime_days: 180,
  banner_version: "b1",
  policy_version: { label: "2024-09", material: true },
  categories: [
    { slug: "necessary", necessary: true },
    { slug: "analytics", necessary: false },
    { slug: "crm", necessary: false },
  ],
  ...overrides,
});

let jar;
let clock;
beforeEach((t) => {
  jar = {};
  clock = Date.UTC(2026, 10, 23);
  globalThis.location = { protocol: "https:" };
  globalThis.document = {
    get cookie() {
      return Object.entries(jar)
        .map(([name, value]) => name + "=" + value)
        .join("; ");
    },
    set cookie(line) {
      const [pair] = line.split(";");
      const [name, value] = pair.split("=");
      jar[name] = value;
      globalThis.lastCookie = line;
    },
  };
  t.mock.method(Date, "now", () => clock);
});

const decide = (choices, C = config()) => {
  state.initState(C);
  state.save(state.next(choices, { d: 1 }));
};

test("a first visit is undecided; necessary is always granted; unknown is null", () => {
  state.initState(config());
  assert.equal(state.current(), false);
  assert.equal(state.get("analytics"), null);
  assert.equal(state.get("necessary"), true);
  assert.equal(state.get("no-such-category"), null);
  assert.deepEqual(state.snapshot().choices, { necessary: true, analytics: null, crm: null });
});

test("a decision is stored in the cookie and read back on the next page", () => {
  decide({ analytics: true, crm: false });
  assert.match(globalThis.lastCookie, /max-age=15552000;samesite=lax;secure$/);
  state.initState(config()); // the next page
  assert.equal(state.current(), true);
  assert.equal(state.get("analytics"), true);
  assert.equal(state.get("crm"), false);
  assert.equal(state.snapshot().policy_version, "2024-09");
});

test("the lifetime passing asks again", () => {
  decide({ analytics: true, crm: true });
  clock += 181 * DAY;
  state.initState(config());
  assert.equal(state.current(), false);
  assert.equal(state.get("analytics"), null);
});

test("a material policy asks again, a non-material one does not", () => {
  decide({ analytics: true, crm: true });
  state.initState(config({ policy_version: { label: "2025-01", material: false } }));
  assert.equal(state.get("analytics"), true);
  state.initState(config({ policy_version: { label: "2025-02", material: true } }));
  assert.equal(state.current(), false);
  assert.equal(state.get("analytics"), null);
});

test("a new category asks again and keeps the others", () => {
  decide({ analytics: true, crm: false });
  const C = config();
  C.categories.push({ slug: "media", necessary: false });
  state.initState(C);
  assert.equal(state.current(), false);
  assert.equal(state.get("analytics"), true);
  assert.equal(state.get("media"), null);
});

test("a damaged cookie is no decision, not an error", () => {
  jar.cs_consent = "%7Bnot-json";
  state.initState(config());
  assert.equal(state.current(), false);
  assert.equal(state.get("analytics"), null);
});

test("the visitor token survives a new decision", () => {
  decide({ analytics: true });
  state.read().t = "token-1";
  state.save(state.next({ analytics: false }, { d: 1 }));
  state.initState(config());
  assert.equal(state.read().t, "token-1");
  assert.equal(state.get("analytics"), false);
});

test("the language: the page's, then the browser's, then the default", () => {
  const available = ["en", "zh-CN"];
  assert.equal(pickLocale(available, ["zh", "en-US"], "en"), "zh-CN");
  assert.equal(pickLocale(available, ["", "en-GB"], "zh-CN"), "en");
  assert.equal(pickLocale(available, ["fr", "de"], "en"), "en");
  assert.equal(match("ZH-cn", available), "zh-CN");
  assert.equal(isRtl("ar"), true);
  assert.equal(isRtl("he-IL"), true);
  assert.equal(isRtl("en"), false);
  assert.equal(isRtl("arn-CL"), false); // Mapudungun, not Arabic
});

test("the cookie is set on the configured parent domain, so www. and shop. share a choice", () => {
  decide({ analytics: true }, config({ cookie_domain: "example.com" }));
  assert.match(globalThis.lastCookie, /;domain=example\.com;/);
  decide({ analytics: true });
  assert.doesNotMatch(globalThis.lastCookie, /domain=/);
});

test("under opt-out rules what nobody refused is allowed; under opt-in it waits", () => {
  state.initState(config({ rules: "opt_out" }));
  assert.equal(state.get("analytics"), true);
  assert.equal(state.current(), false);
  decide({ analytics: true, crm: false }, config({ rules: "opt_out" }));
  assert.equal(state.get("crm"), false);
  jar = {};
  state.initState(config({ rules: "opt_in_separate" }));
  assert.equal(state.get("analytics"), null);
});

test("after Reject all the banner keeps quiet for reask_days, not the lifetime", () => {
  const C = config({ lifetime_days: 30, reask_days: 182 });
  state.initState(C);
  state.save(state.next({ analytics: false, crm: false }, { d: 1, r: 1 }));
  assert.match(globalThis.lastCookie, /max-age=15724800;/);
  clock += 181 * DAY;
  state.initState(C);
  assert.equal(state.current(), true);
  clock += 2 * DAY;
  state.initState(C);
  assert.equal(state.current(), false);
  // A choice that allowed something is asked again after the lifetime.
  state.save(state.next({ analytics: true, crm: false }, { d: 1, r: 0 }));
  clock += 31 * DAY;
  state.initState(C);
  assert.equal(state.current(), false);
});

test("a refusal is asked again at once when a purpose is added", () => {
  const C = config({ reask_days: 182 });
  state.initState(C);
  state.save(state.next({ analytics: false, crm: false }, { d: 1, r: 1 }));
  const more = config({
    reask_days: 182,
    categories: [...C.categories, { slug: "marketing", necessary: false }],
  });
  state.initState(more);
  assert.equal(state.current(), false);
});

test("a choice under opt-out rules is no consent where consent is asked for", () => {
  decide({ analytics: true, crm: true }, config({ rules: "opt_out" }));
  state.initState(config({ rules: "opt_out" }));
  assert.equal(state.current(), true);
  state.initState(config({ rules: "opt_in" }));
  assert.equal(state.current(), false);
  assert.equal(state.get("analytics"), null);
  state.initState(config({ rules: "opt_in_separate" }));
  assert.equal(state.get("analytics"), null);
  // An opt-in choice still stands under opt-out rules, and one made before rules existed.
  decide({ analytics: false, crm: true }, config({ rules: "opt_in" }));
  state.initState(config({ rules: "opt_out" }));
  assert.equal(state.get("analytics"), false);
  decide({ analytics: true, crm: true });
  state.initState(config({ rules: "opt_in" }));
  assert.equal(state.current(), true);
});
