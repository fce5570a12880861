// The stub for the page head (at most 400 bytes gzip): `consentService` exists at once, calls
// made before the banner script arrives are queued and replayed by it, and `ready` resolves
// with the real API.
((w, q, r) => {
  if (w.consentService) return;
  const stub = (w.consentService = { q, ready: new Promise((resolve) => (r = resolve)) });
  stub.r = r;
  for (const m of ["get", "state", "on", "open", "acceptAll", "rejectAll", "set", "withdraw"])
    stub[m] = (...args) => {
      q.push([m, args]);
    };
})(window, []);
