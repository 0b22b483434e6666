// A small frontend for the account lifecycle: sign up, confirm the email,
// sign in and out, forgot and reset the password. The tokens live in
// httpOnly cookies and are never visible here; the server does all checks.
const status = document.getElementById("status");
const say = (text) => { status.textContent = text; };

async function api(path, body) {
  const res = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  return { ok: res.ok, data: await res.json().catch(() => ({})) };
}

const failure = (data) => data.error?.message ?? "Something went wrong. Please try again.";

// The token of a link from an email, read from the fragment (browsers send
// it neither to the server nor in Referer headers), then removed from the
// address bar and the history before anything else happens.
function takeLinkToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  history.replaceState(null, "", location.pathname);
  return token;
}

function onSubmit(id, handler) {
  const form = document.getElementById(id);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await handler(Object.fromEntries(new FormData(form)));
    } finally {
      button.disabled = false;
    }
  });
}

const views = {
  async "/"() {
    const { ok, data } = await api("/api/me");
    document.getElementById("who").textContent = ok ? `Signed in as ${data.user.email}.` : "You are not signed in.";
    document.querySelector(".signed-in").hidden = !ok;
    document.querySelector(".signed-out").hidden = ok;
    document.getElementById("sign-out").addEventListener("click", async () => {
      await api("/api/auth/logout", {});
      location.assign("/");
    });
  },
  "/login"() {
    const resend = document.getElementById("resend");
    onSubmit("login-form", async (form) => {
      const { ok, data } = await api("/api/auth/login", form);
      if (ok) return location.assign("/");
      say(failure(data));
      resend.hidden = data.error?.code !== "email_not_verified";
    });
    document.getElementById("resend-button").addEventListener("click", async () => {
      const email = document.getElementById("login-email").value;
      const { ok, data } = await api("/api/auth/resend-verification", { email });
      say(ok ? "A new confirmation link is on its way. Check your email." : failure(data));
      resend.hidden = true;
    });
  },
  "/signup"() {
    onSubmit("signup-form", async (form) => {
      const { ok, data } = await api("/api/auth/register", form);
      say(ok ? "Check your email: we sent you a link to confirm your address." : failure(data));
    });
  },
  async "/verify-email"() {
    const token = takeLinkToken();
    if (!token) return say("This link has no token. Ask for a new confirmation email.");
    const { ok, data } = await api("/api/auth/verify-email", { token });
    say(ok ? `Email confirmed. You are signed in as ${data.user.email}.` : failure(data));
  },
  "/forgot-password"() {
    onSubmit("forgot-form", async (form) => {
      const { ok, data } = await api("/api/auth/forgot-password", form);
      say(ok ? "If an account uses this address, a reset link is on its way. Check your email." : failure(data));
    });
  },
  "/reset-password"() {
    const token = takeLinkToken();
    if (!token) {
      // Reloaded after the token left the address bar, or a bad link: no form
      // without a token (submitting it would go nowhere).
      document.getElementById("reset-form").hidden = true;
      return say("This page needs the link from the reset email. Ask for a new one if it has expired.");
    }
    onSubmit("reset-form", async ({ password }) => {
      const { ok, data } = await api("/api/auth/reset-password", { token, password });
      if (ok) location.assign("/login#reset");
      else say(failure(data));
    });
  },
};

const view = views[location.pathname];
if (view) {
  document.querySelector(`[data-view="${location.pathname}"]`).hidden = false;
  if (location.hash === "#reset") {
    history.replaceState(null, "", location.pathname);
    say("Your password has been changed. Sign in with the new one.");
  }
  await view();
} else {
  say("This page does not exist.");
}
if (location.hostname === "localhost" || location.hostname === "127.0.0.1") {
  document.querySelector(".dev-only").hidden = false;
}
