// The dashboard ("/"): profile, sessions, change password, sign out,
// two-step verification (mfa.js), passkeys (passkeys.js), the notes
// (notes.js), the recent security events, and the account's email, data
// and deletion (account.js). Every call goes through api(), so an expired
// access token is refreshed on the way, and an ended session leads to the
// sign-in page.
import { accountCards } from "./account.js";
import { mfaCard } from "./mfa.js";
import { notesCard } from "./notes.js";
import { passkeysCard } from "./passkeys.js";
import { identitiesCard } from "./providers.js";
import { api, changePassword, signOut, signOutEverywhere } from "./session.js";
import { $, ago, date, device, failure, fill, onSubmit, say } from "./ui.js";

export async function dashboard() {
  const me = await api("GET", "/api/me");
  if (!me.ok) return say(failure(me));
  accountBar(me.data.user);
  showProfile(me.data.user);

  $("sign-out-everywhere").addEventListener("click", () => act(signOutEverywhere()));
  $("reload").addEventListener("click", reload);
  onSubmit("password-form", async (fields, form) => {
    const res = await changePassword(fields);
    if (!res.ok) return say(failure(res), { into: "password-status" });
    form.reset();
    say("Password changed. Your other sessions have been signed out.", { kind: "ok", into: "password-status" });
    showProfile(res.data.user);
    await reload();
  });
  accountCards(me.data.user);
  await Promise.all([reload(), mfaCard(me.data.user), passkeysCard(), identitiesCard(), notesCard()]);
}

// act shows the error of an action that did not navigate away.
async function act(pending) {
  const res = await pending;
  if (res && !res.ok) say(failure(res));
}

// accountBar fills the top bar of a signed-in page, once: who is signed
// in, the Sign out button and, for an admin, the link to the admin page
// (admin.js). The link only saves admins a step: the server refuses the
// admin routes to everyone else.
export function accountBar(user) {
  $("who").textContent = `Signed in as ${user.email}`;
  $("admin-link").hidden = user.role !== "admin";
  document.querySelector(".account").hidden = false;
  $("sign-out").addEventListener("click", () => act(signOut()));
}

function showProfile(user) {
  $("profile-name").textContent = user.name || "—";
  $("profile-email").textContent = user.email;
  $("password-username").value = user.email;
  $("profile-verified").hidden = !user.email_verified;
  $("profile-created").textContent = date(user.created_at);
  $("profile-password").textContent = ago(user.last_password_change);
}

// reload fetches the sessions and the events at once. aria-busy tells
// assistive technology (and the browser tests) while the list is updating.
async function reload() {
  const card = $("sessions-card");
  card.setAttribute("aria-busy", "true");
  const [sessions, events] = await Promise.all([
    api("GET", "/api/auth/sessions"),
    api("GET", "/api/me/security-events"),
  ]);
  if (sessions.ok) showSessions(sessions.data.sessions);
  else say(failure(sessions));
  // The events are optional: a server without them answers 404.
  $("events-card").hidden = !events.ok;
  if (events.ok) showEvents(events.data.events);
  card.setAttribute("aria-busy", "false");
}

function showSessions(sessions) {
  // This device first, then the most recently used.
  sessions.sort((a, b) => b.current - a.current || Date.parse(b.last_used_at) - Date.parse(a.last_used_at));
  $("session-list").replaceChildren(...sessions.map((s) => {
    const name = device(s.user_agent);
    const item = fill("session-item", {
      device: name,
      current: s.current ? "This device" : "",
      ip: s.ip,
      created: `Signed in ${ago(s.created_at)}`,
      used: `Active ${ago(s.last_used_at)}`,
    });
    item.dataset.session = s.id;
    item.classList.toggle("current", s.current);
    const button = item.querySelector("button");
    // The visible label is short; screen readers hear which session it ends.
    button.setAttribute("aria-label", s.current ? `Sign out on this device (${name})` : `Revoke the session of ${name}, ${s.ip}`);
    if (s.current) {
      button.textContent = "Sign out";
      button.addEventListener("click", () => act(signOut()));
    } else {
      button.addEventListener("click", () => revoke(s.id, name));
    }
    return item;
  }));
}

async function revoke(id, name) {
  const res = await api("DELETE", `/api/auth/sessions/${encodeURIComponent(id)}`);
  // 404: it had ended already, which is what the user wanted.
  if (!res.ok && res.status !== 404) return say(failure(res));
  say(`${name} is signed out.`, { kind: "ok" });
  await reload();
  $("sessions-title").focus(); // the button that had the focus is gone
}

// What each event type means, in words. A type this page does not know yet
// still shows, by its name.
const sentences = {
  login_succeeded: "Signed in",
  login_failed: "Failed sign-in attempt",
  logout: "Signed out",
  logout_all: "Signed out everywhere",
  refresh_token_reused: "Session ended: an old sign-in token was used again, which can mean it was stolen",
  session_revoked: "Revoked a session",
  password_changed: "Password changed",
  password_reset: "Password reset with an email link",
  email_verified: "Email address confirmed",
  password_change_failed: "Failed password change",
  reauthenticated: "Confirmed it was you",
  reauthentication_failed: "Failed to confirm it was you",
  mfa_enabled: "Two-step verification turned on",
  mfa_disabled: "Two-step verification turned off",
  mfa_failed: "Failed sign-in at the second step",
  recovery_code_used: "Signed in with a recovery code",
  recovery_codes_regenerated: "New recovery codes made",
  passkey_added: "Passkey added",
  passkey_renamed: "Passkey renamed",
  identity_linked: "Provider linked",
  identity_unlinked: "Provider unlinked",
  passkey_removed: "Passkey deleted",
  passkey_failed: "Refused a sign-in with one of your passkeys",
  email_change_requested: "Email address change requested",
  email_changed: "Email address changed",
  // What an administrator did to the account (admin.js); who it was stays out of this view.
  admin_sessions_revoked: "Every session ended by an administrator",
  admin_user_disabled: "Account disabled by an administrator",
  admin_user_enabled: "Account enabled again by an administrator",
  admin_role_changed: "Role changed by an administrator",
};
// Why something failed: the detail of the failure events.
const failures = {
  invalid_credentials: "wrong password",
  invalid_current_password: "wrong password",
  invalid_mfa_code: "wrong code",
  too_many_attempts: "refused after too many attempts",
  email_not_verified: "email not confirmed yet",
  account_disabled: "account disabled",
  cloned_authenticator: "its counter went backwards: the passkey may have been copied",
};
const warnings = new Set([
  "login_failed", "refresh_token_reused", "password_change_failed", "reauthentication_failed",
  "mfa_failed", "mfa_disabled", "recovery_code_used", "passkey_failed", "email_change_requested", "email_changed",
]);

function showEvents(events) {
  $("event-list").replaceChildren(...events.map((e) => {
    let what = sentences[e.type] ?? e.type.replaceAll("_", " ");
    if (failures[e.detail]) what += ` (${failures[e.detail]})`;
    if (e.type === "admin_role_changed" && e.detail) what += ` (now ${e.detail})`;
    if (e.type === "recovery_code_used" && e.detail) what += ` (${e.detail} left)`;
    if (e.type === "login_succeeded" && e.detail === "passkey") what += " with a passkey";
    if (e.type === "login_succeeded" && e.detail?.startsWith("provider:")) what += ` with ${e.detail.slice("provider:".length)}`;
    const item = fill("event-item", {
      what,
      when: ago(e.created_at),
      device: device(e.user_agent),
      ip: e.ip,
      here: e.current ? "this device" : "",
    });
    item.querySelector("[data-field=when]").title = date(e.created_at);
    if (warnings.has(e.type)) item.classList.add("warn");
    return item;
  }));
}
