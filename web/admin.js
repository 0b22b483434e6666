// The admin page ("/admin"): find accounts by email or name, and for one of
// them see its sessions, end them all, disable or enable it, change its
// role (the /api/admin routes).
//
// The server decides who is an admin: every /api/admin route answers 403
// forbidden to anyone else. So the page asks the server rather than the
// user object's role: for a user who is not an admin, it shows the server's
// message and nothing else. (The dashboard links here only for admins: a
// convenience, not a protection.)
//
// A role change, a disable and a revocation end every session of the
// account at once. When the account is the admin's own, the next call is
// refused, and api() (session.js) goes to the sign-in page, as for any
// session that ended.
import { accountBar } from "./dashboard.js";
import { api } from "./session.js";
import { $, ago, date, device, failure, fill, onClick, onSubmit, say } from "./ui.js";

const PAGE = 20; // accounts a page

let me = null; // the signed-in admin
let query = ""; // the search whose results are listed
let cursor = null; // next_cursor of the last page read
let selected = null; // the account shown in the user card

export async function admin() {
  const res = await api("GET", "/api/me");
  if (!res.ok) return say(failure(res));
  me = res.data.user;
  accountBar(me);
  $("admin-link").setAttribute("aria-current", "page");

  // The first page of all accounts, which is also the server's answer to
  // "may this user administer?".
  const first = await load();
  if (!first.ok) return say(failure(first));
  $("admin-panel").hidden = false;

  onSubmit("user-search", async (fields) => {
    const res = await load({ search: fields.query.trim() });
    if (!res.ok) say(failure(res), { into: "users-status" });
  });
  onClick("users-more", async () => {
    const res = await load({ more: true });
    if (!res.ok) say(failure(res), { into: "users-status" });
  });
  onClick("user-revoke", revokeSessions);
  onClick("user-disable", toggleDisabled);
  onClick("user-role-change", toggleRole);
}

const userPath = (user) => `/api/admin/users/${encodeURIComponent(user.id)}`;

// --- The list ---------------------------------------------------------------

// load reads the first page of a search (search, by default the current
// one), or (more) the next page of the current search. It returns the
// server's answer; the caller says what went wrong.
async function load({ search = query, more = false } = {}) {
  const card = $("users-card");
  card.setAttribute("aria-busy", "true");
  const params = new URLSearchParams({ limit: PAGE });
  if (search) params.set("query", search);
  if (more && cursor) params.set("cursor", cursor);
  const res = await api("GET", `/api/admin/users?${params}`);
  card.setAttribute("aria-busy", "false");
  if (!res.ok) return res;
  say("", { into: "users-status" });
  query = search;
  const items = res.data.users.map(item);
  if (more) $("user-list").append(...items);
  else $("user-list").replaceChildren(...items);
  cursor = res.data.next_cursor;
  $("users-more-foot").hidden = cursor === null;
  $("users-empty").hidden = $("user-list").children.length > 0;
  return res;
}

function item(user) {
  const li = fill("user-item", {
    email: user.email,
    role: user.role === "admin" ? "Admin" : "User",
    disabled: user.disabled ? "Disabled" : "",
    unverified: user.email_verified ? "" : "Not confirmed",
    name: user.name,
    joined: `Joined ${ago(user.created_at)}`,
  });
  li.dataset.user = user.id;
  li.querySelector("[data-field=role]").classList.toggle("muted", user.role !== "admin");
  li.querySelector("[data-field=joined]").title = date(user.created_at);
  if (selected?.id === user.id) li.setAttribute("aria-current", "true");
  const button = li.querySelector("button");
  // The visible label is short; screen readers hear whose account it opens.
  button.setAttribute("aria-label", `Manage ${user.email}`);
  button.addEventListener("click", () => select(user));
  return li;
}

// listed replaces the account's item in the list, if it is there, with its
// new state.
function listed(user) {
  $("user-list").querySelector(`[data-user="${CSS.escape(user.id)}"]`)?.replaceWith(item(user));
}

// --- One account --------------------------------------------------------------

async function select(user) {
  selected = user;
  for (const li of $("user-list").children) {
    if (li.dataset.user === user.id) li.setAttribute("aria-current", "true");
    else li.removeAttribute("aria-current");
  }
  say("", { into: "user-status" });
  showUser(user);
  $("user-card").hidden = false;
  $("user-title").focus();
  await loadSessions(user);
}

function showUser(user) {
  const admin = user.role === "admin";
  $("user-title").textContent = user.email;
  $("user-self").hidden = user.id !== me.id;
  $("user-name").textContent = user.name || "—";
  $("user-email").textContent = user.email;
  $("user-verified").hidden = !user.email_verified;
  $("user-unverified").hidden = user.email_verified;
  $("user-role").textContent = admin ? "Admin" : "User";
  $("user-state").textContent = user.disabled ? "Disabled: cannot sign in" : "Active";
  $("user-created").textContent = date(user.created_at);
  $("user-password").textContent = ago(user.last_password_change);
  $("user-role-change").textContent = admin ? "Make user" : "Make admin";
  $("user-disable").textContent = user.disabled ? "Enable" : "Disable";
  // The visible labels are short; screen readers hear whose account.
  $("user-role-change").setAttribute("aria-label", admin ? `Make ${user.email} a user` : `Make ${user.email} an admin`);
  $("user-disable").setAttribute("aria-label", `${user.disabled ? "Enable" : "Disable"} ${user.email}`);
  $("user-revoke").setAttribute("aria-label", `Revoke all sessions of ${user.email}`);
}

async function loadSessions(user) {
  const card = $("user-card");
  card.setAttribute("aria-busy", "true");
  const res = await api("GET", `${userPath(user)}/sessions`);
  if (selected?.id !== user.id) return; // another account was opened meanwhile
  card.setAttribute("aria-busy", "false");
  if (!res.ok) return say(failure(res), { into: "user-status" });
  const sessions = res.data.sessions.sort((a, b) => Date.parse(b.last_used_at) - Date.parse(a.last_used_at));
  $("user-session-list").replaceChildren(...sessions.map((s) => {
    const li = fill("user-session-item", {
      device: device(s.user_agent),
      ip: s.ip,
      created: `Signed in ${ago(s.created_at)}`,
      used: `Active ${ago(s.last_used_at)}`,
    });
    li.dataset.session = s.id;
    li.querySelector("[data-field=device]").title = s.user_agent ?? ""; // the whole user agent
    return li;
  }));
  $("user-no-sessions").hidden = sessions.length > 0;
}

// updated shows the account's new state, in the list and, unless another
// account was opened meanwhile, in the card, with the sessions it has left.
async function updated(user) {
  listed(user);
  if (selected?.id !== user.id) return;
  selected = user;
  showUser(user);
  await loadSessions(user);
}

// reread fetches the account again after an action answered 204.
async function reread(user) {
  const res = await api("GET", userPath(user));
  if (!res.ok) return say(failure(res), { into: "user-status" });
  await updated(res.data.user);
}

// --- Actions ----------------------------------------------------------------

// Each action says what happened, or the server's reason for refusing
// (last_admin, user_not_found...), in the card's own live region.
const result = (text) => say(text, { kind: "ok", into: "user-status" });
const refused = (res) => say(failure(res), { into: "user-status" });

async function revokeSessions() {
  const user = selected;
  const res = await api("POST", `${userPath(user)}/revoke-sessions`);
  if (!res.ok) return refused(res);
  result(`Every session of ${user.email} has ended.`);
  await reread(user);
}

async function toggleDisabled() {
  const user = selected;
  const res = await api("POST", `${userPath(user)}/${user.disabled ? "enable" : "disable"}`);
  if (!res.ok) return refused(res);
  result(user.disabled
    ? `${user.email} is enabled again and can sign in.`
    : `${user.email} is disabled: every session has ended, and signing in is refused.`);
  await reread(user);
}

async function toggleRole() {
  const user = selected;
  const role = user.role === "admin" ? "user" : "admin";
  const res = await api("PATCH", userPath(user), { role });
  if (!res.ok) return refused(res); // 409 last_admin: the one admin cannot step down
  result(`${user.email} is now ${role === "admin" ? "an admin" : "a user"}; every session has ended.`);
  // The answer is the account; disabled is kept if the answer leaves it out.
  await updated({ ...user, ...res.data.user });
}
