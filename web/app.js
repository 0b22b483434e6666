// A placeholder until the full frontend lands: it confirms email
// verification links and shows whether this browser is signed in. The
// tokens live in httpOnly cookies and are never visible here.
const status = document.getElementById("status");

async function api(path, body) {
  const res = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  return { ok: res.ok, data: await res.json().catch(() => ({})) };
}

async function verifyEmail() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  // Take the token out of the address bar (and history) before anything else.
  history.replaceState(null, "", "/");
  if (!token) {
    status.textContent = "This link has no token. Ask for a new confirmation email.";
    return;
  }
  const { ok, data } = await api("/api/auth/verify-email", { token });
  status.textContent = ok
    ? `Email confirmed. You are signed in as ${data.user.email}.`
    : data.error?.message ?? "This link could not be used.";
}

async function showSession() {
  const { ok, data } = await api("/api/me");
  status.textContent = ok ? `Signed in as ${data.user.email}.` : "You are not signed in.";
}

if (location.pathname === "/verify-email") {
  await verifyEmail();
} else {
  await showSession();
}
