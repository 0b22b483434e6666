// The frontend: one page (index.html) with a view per path. Each view is a
// small function; the dashboard and the admin page have modules of their
// own. Every request goes through session.js, which owns the token handling.
import { call } from "./session.js";
import { admin } from "./admin.js";
import { dashboard } from "./dashboard.js";
import { passkeySignIn } from "./passkeys.js";
import { providerButtons, providerRefusal } from "./providers.js";
import { $, alternatives, failure, offerDevMailbox, onSubmit, say, show } from "./ui.js";

// Notices that another page asks for with a fragment: /login#ended.
const notices = {
  ended: ["Your session has ended. Please sign in again.", "info"],
  "signed-out": ["You have signed out.", "ok"],
  "signed-out-everywhere": ["You have signed out on every device.", "ok"],
  reset: ["Your password has been changed. Sign in with the new one.", "ok"],
  verified: ["Your email address is confirmed, and you are signed in.", "ok"],
  "account-deleted": ["Your account has been deleted. A confirmation is on its way to your address.", "ok"],
  // The confirmation link, or a sign-in at another provider, of an account
  // with two-step verification: the sign-in page opens at its second step
  // (see secondStep).
  "second-step": ["Your email address is confirmed. Enter a code to sign in.", "ok"],
  "provider-second-step": ["One more step: enter a code to sign in.", "ok"],
};

// The token of a link from an email, read from the fragment (browsers send
// it neither to the server nor in Referer headers), then removed from the
// address bar and the history before anything else happens.
function takeLinkToken() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  history.replaceState(null, "", location.pathname);
  return token;
}

// checkYourEmail runs the forms that answer "check your email" whatever the
// address (sign up, forgot password): the elements <name>-form, -panel,
// -done and -address.
function checkYourEmail(name, path) {
  onSubmit(`${name}-form`, async (form) => {
    const res = await call("POST", path, form);
    if (!res.ok) return say(failure(res));
    say("");
    $(`${name}-address`).textContent = form.email;
    await offerDevMailbox();
    show(`${name}-panel`, `${name}-done`);
  });
}

// secondStep runs the sign-in's second step, for an account with two-step
// verification: the password (or the confirmation link) was right, and the
// server answered mfa_required with a challenge in an httpOnly cookie. The
// challenge takes a code from the authenticator app or a recovery code; it
// survives a few wrong codes, but once it is over (used, expired, too many
// wrong codes: invalid_mfa_challenge) the sign-in starts again at the
// password. It returns the function that opens the step.
function secondStep() {
  const useAppCode = alternatives("mfa-switch", "mfa-code", "mfa-recovery");
  onSubmit("mfa-form", async (answer, form) => {
    const res = await call("POST", "/api/auth/mfa/verify", answer);
    if (res.ok) return location.assign("/");
    say(failure(res));
    if (res.data.error?.code !== "invalid_mfa_challenge") return; // a wrong code: try another
    form.reset();
    useAppCode();
    show("mfa-panel", "login-panel", "login-password");
  });
  return () => show("login-panel", "mfa-panel", "mfa-code");
}

const views = {
  "/": dashboard,
  "/admin": admin,

  async "/login"(fragment) {
    const resend = $("resend");
    const openSecondStep = secondStep();
    onSubmit("login-form", async (form) => {
      const res = await call("POST", "/api/auth/login", form);
      if (res.data.mfa_required) {
        say("");
        return openSecondStep();
      }
      if (res.ok) return location.assign("/");
      say(failure(res));
      resend.hidden = res.data.error?.code !== "email_not_verified";
    });
    $("resend-button").addEventListener("click", async () => {
      const res = await call("POST", "/api/auth/resend-verification", { email: $("login-email").value });
      if (res.ok) say("A new confirmation link is on its way. Check your email.", { kind: "ok" });
      else say(failure(res));
      resend.hidden = true;
      $("login-email").focus();
    });
    passkeySignIn();
    providerRefusal();
    if (fragment === "second-step" || fragment === "provider-second-step") openSecondStep();
    await providerButtons("login-providers");
  },

  "/signup"() {
    checkYourEmail("signup", "/api/auth/register");
    return providerButtons("signup-providers");
  },

  // Opening the link only shows a button; pressing it confirms. Mail
  // scanners open links, some of them running the page's script: on load,
  // one would spend the single-use token, and get the session it opens.
  "/verify-email"() {
    const token = takeLinkToken(); // kept in memory only, until the press
    const failed = (message) => {
      $("verify-title").textContent = "This link did not work";
      $("verify-form").hidden = true;
      $("verify-help").hidden = false;
      say(message);
    };
    if (!token) return failed("This link has no token. Ask for a new confirmation email.");
    onSubmit("verify-form", async () => {
      const res = await call("POST", "/api/auth/verify-email", { token });
      if (res.data.mfa_required) return location.replace("/login#second-step"); // the challenge cookie goes along
      if (res.ok) return location.replace("/#verified"); // signed in: to the dashboard
      if (res.data.error?.code === "invalid_token") {
        failed(failure(res)); // used or expired
        return $("verify-title").focus(); // the button that had the focus is gone
      }
      say(failure(res)); // the server unreachable, too many tries...: the button stays
    });
  },

  // The link mailed to a new address: like /verify-email, the token leaves
  // the address bar on load and is posted only when the button is pressed.
  // It signs nobody in: the session that asked for the change goes on
  // (after one refresh), wherever it is.
  "/confirm-email-change"() {
    const token = takeLinkToken();
    const over = (title) => {
      $("change-title").textContent = title;
      $("change-form").hidden = true;
      $("change-next").hidden = false;
      $("change-title").focus(); // the button that had the focus is gone
    };
    if (!token) {
      over("This link did not work");
      return say("This link has no token. Ask for a new one from your account's page.");
    }
    onSubmit("change-form", async () => {
      const res = await call("POST", "/api/auth/confirm-email-change", { token });
      if (res.ok) {
        over("Your email address is changed");
        return say("This address is now your account's. Every other device was signed out.", { kind: "ok" });
      }
      const code = res.data.error?.code;
      if (code === "invalid_token") over("This link did not work"); // used, expired, replaced
      if (code === "email_taken") over("This address is taken");
      say(failure(res)); // otherwise (the server unreachable, too many tries...) the button stays
    });
  },

  "/forgot-password"() {
    checkYourEmail("forgot", "/api/auth/forgot-password");
  },

  "/reset-password"() {
    const token = takeLinkToken();
    if (!token) {
      // Reloaded after the token left the address bar, or a bad link: no form
      // without a token (submitting it would go nowhere).
      $("reset-form").hidden = true;
      $("reset-help").hidden = false;
      return say("This page needs the link from the reset email. Ask for a new one if it has expired.", { kind: "info" });
    }
    onSubmit("reset-form", async ({ password }) => {
      const res = await call("POST", "/api/auth/reset-password", { token, password });
      if (res.ok) return location.assign("/login#reset");
      say(failure(res));
      $("reset-help").hidden = res.data.error?.code !== "invalid_token"; // used or expired link
    });
  },
};

// The server matches paths whatever their case and with or without one
// trailing slash, so /Login and /login/ get this page too: they show the
// view of /login, and the address bar says /login.
let path = location.pathname.toLowerCase();
if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
if (!Object.hasOwn(views, path)) path = "not-found";
else if (path !== location.pathname) history.replaceState(null, "", path + location.search + location.hash);
document.querySelector(`[data-view="${path}"]`).hidden = false;
const fragment = location.hash.slice(1);
const notice = notices[fragment];
if (notice) {
  history.replaceState(null, "", location.pathname);
  say(notice[0], { kind: notice[1] });
}
await views[path]?.(fragment);
