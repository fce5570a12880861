// Which of the site's languages to speak: the page's (<html lang>), then the browser's
// (navigator.languages), then the site's default. "zh" finds "zh-CN"; "en-GB" finds "en".
const base = (tag) => tag.toLowerCase().split("-")[0];

export const match = (want, available) =>
  available.find((x) => x.toLowerCase() == want.toLowerCase()) ||
  available.find((x) => base(x) == base(want));

export const pickLocale = (available, wanted, fallback) =>
  wanted.map((want) => want && match(want, available)).find(Boolean) || fallback;

export const isRtl = (locale) => /^(ar|he|fa|ur|ps|yi|dv|ckb|sd|ug)\b/i.test(locale);
