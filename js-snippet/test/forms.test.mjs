// The forms script's headless part: reading the visitor token from the banner's cookie.
import assert from "node:assert/strict";
import { test } from "node:test";

globalThis.document = { cookie: "" };
globalThis.window = {};
const { visitorToken } = await import("../src/forms.js");

test("the visitor token comes from the banner's cookie", () => {
  const value = encodeURIComponent(JSON.stringify({ t: "tok.en", c: { crm: true } }));
  document.cookie = "other=1; cs_consent=" + value + "; x=2";
  assert.equal(visitorToken("cs_consent"), "tok.en");
  assert.equal(visitorToken("cs_other"), null);
});

test("no token before the first acknowledged decision, and a bad cookie is no token", () => {
  document.cookie = "cs_consent=" + encodeURIComponent(JSON.stringify({ c: {} }));
  assert.equal(visitorToken("cs_consent"), null);
  document.cookie = "cs_consent=%7Bnot-json";
  assert.equal(visitorToken("cs_consent"), null);
});
