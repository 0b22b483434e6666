// The one way the frontend talks to the API, and everything it does about
// tokens.
//
// The tokens live in httpOnly cookies: this code never sees them, so an XSS
// bug cannot steal them. What the page does decide is *when* to refresh:
//
//  - reactively: a protected call answered 401 → refresh once → retry once;
//  - proactively: at 80% of the access token's lifetime (access_expires_in,
//    a duration, so a wrong clock on this computer does not matter), and
//    when a hidden tab becomes visible again after that point.
//
// Refreshing rotates the refresh token, so two refreshes must not race with
// the same cookie. Inside a tab, callers share one refresh (single flight).
// Across the tabs of this browser, the Web Locks API lets one tab refresh at
// a time; the others wait, see that a refresh happened meanwhile, and retry
// with the new cookies instead of refreshing again. A BroadcastChannel tells
// the other tabs at once. (The server's grace window, REFRESH_REUSE_INTERVAL,
// would forgive a race; the frontend still avoids one.) Whether "a refresh
// happened meanwhile" is read from IndexedDB, not only from localStorage: see
// "A note every tab reads alike" below.
//
// It also asks the user to prove again who they are when a sensitive route
// wants it (403 reauthentication_required): see "Re-authentication" below.
import { confirmIdentity } from "./reauth.js";

const LOCK = "auth-refresh";
const SCHEDULE = "auth:access-expiry"; // localStorage: {at, expiresIn}; no token
const channel = "BroadcastChannel" in self ? new BroadcastChannel("auth") : null;

let signedIn = false; // a protected call worked in this tab
let lost = false; // a proactive refresh found the session over
let timer = 0; // the proactive refresh
let inFlight = null; // this tab's running refresh
let heard = null; // the newest schedule another tab told us about
let asking = null; // this tab's open re-authentication prompt

// --- Requests ---------------------------------------------------------------

// send makes one request and never throws: a network failure is an answer
// with status 0 and a message, like the server's own errors.
async function send(method, path, body) {
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const res = await fetch(path, init);
    const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
    return { ok: res.ok, status: res.status, data };
  } catch {
    const message = "The server cannot be reached. Check your connection and try again.";
    return { ok: false, status: 0, data: { error: { code: "network_error", message } } };
  }
}

// call is for the public routes (sign in, sign up, reset...). A 401 there is
// an answer ("wrong password"), not an expired session: no refresh. A sign-in
// answer starts the proactive schedule.
export async function call(method, path, body) {
  const res = await send(method, path, body);
  if (res.ok && res.data.access_expires_in) await remember(res.data.access_expires_in);
  return res;
}

// api is for the protected routes: on 401, refresh once and retry once. When
// the session is over, it goes to the sign-in page (and never resolves: the
// page is going away). On 403 reauthentication_required, it asks the user to
// prove who they are, then retries once; if they cancel, the 403 is the
// answer.
export async function api(method, path, body) {
  const res = await authorized(method, path, body);
  if (res.status === 403 && res.data.error?.code === "reauthentication_required" && (await reauthenticate())) {
    return authorized(method, path, body);
  }
  return res;
}

// authorized sends a request with the session's cookies, refreshing them once
// if the access token has expired.
async function authorized(method, path, body) {
  const sentAt = Date.now();
  let res = await send(method, path, body);
  if (res.status === 401) {
    const refreshed = await refresh(sentAt);
    if (refreshed === "ended") return leave(wasSignedIn() ? "ended" : "");
    if (refreshed !== "ok") return refreshed; // the refresh's own error (network, 5xx)
    res = await send(method, path, body);
    if (res.status === 401) return leave("ended"); // ended between refresh and retry
  }
  if (res.ok) signedIn = true;
  return res;
}

// --- Re-authentication -------------------------------------------------------

// Sensitive routes (turning two-step verification on or off, new recovery
// codes...) want a password or code given within REAUTH_WINDOW; a session
// opened by an email link has given neither. reauthenticate shows the
// prompt (reauth.js), offering the authenticator app when the account has
// one, and resolves true once POST /api/auth/reauthenticate has given this
// session a new access token with a fresh auth_time, false if the user
// cancels. Requests that meet the 403 together share one prompt. The
// refresh cookie stays as it is, so no lock is needed: a refresh in another
// tab keeps the new auth_time, which the server stores with the session.
export function reauthenticate() {
  asking ??= (async () => {
    const factors = await authorized("GET", "/api/auth/mfa");
    return confirmIdentity({
      totp: factors.ok && factors.data.totp,
      submit: async (proof) => {
        const res = await authorized("POST", "/api/auth/reauthenticate", proof);
        if (res.ok) await remember(res.data.access_expires_in); // a new access token: plan its refresh
        return res;
      },
    });
  })().finally(() => { asking = null; });
  return asking;
}

// --- Refresh ----------------------------------------------------------------

// refresh makes sure the cookies were refreshed after `since` (a Date.now()
// value): it resolves to "ok", "ended" (the session is over) or, for other
// failures, the failed answer.
function refresh(since) {
  if (lastRefresh() > since) return Promise.resolve("ok"); // newer cookies already: just retry
  // Waiting for the lock can take a while: another tab may have refreshed
  // meanwhile, and then the cookies are new and this tab just retries.
  inFlight ??= exclusive(async () => ((await renewedSince(since)) ? "ok" : rotate()))
    .finally(() => { inFlight = null; });
  return inFlight;
}

// renewedSince says whether this browser got new cookies after since. Run
// under the lock, it sees every refresh that another tab finished before
// (the note in IndexedDB), even one that localStorage does not show yet.
async function renewedSince(since) {
  if (lastRefresh() > since) return true;
  const note = await readNote();
  if (!(note?.at > since)) return false;
  heard = note; // newer than what localStorage and the channel said so far
  return true;
}

// exclusive runs fn while no other tab of this browser refreshes. Without
// Web Locks (old browsers; plain http on a host other than localhost), the
// single flight of refresh still covers this tab.
function exclusive(fn) {
  return navigator.locks ? navigator.locks.request(LOCK, fn) : fn();
}

// rotate is the refresh request itself; run it only through exclusive.
async function rotate() {
  const sentAt = Date.now();
  const res = await send("POST", "/api/auth/refresh");
  if (res.ok) {
    await remember(res.data.access_expires_in); // noted before the lock is released
    return "ok";
  }
  if (res.status !== 401) return res;
  // 401 invalid_refresh_token: the server has cleared the cookies, unless a
  // password change in this session replaced them while we asked. Then the
  // cookies are newer than the token we sent, and the session goes on.
  return (await renewedSince(sentAt)) ? "ok" : "ended";
}

// changePassword replaces this session's cookies, like a refresh: it holds
// the same lock, so that no tab refreshes with the cookie it replaces.
export function changePassword(body) {
  return exclusive(async () => {
    const path = "/api/auth/change-password";
    let res = await send("POST", path, body);
    if (res.status === 401) {
      const refreshed = await rotate(); // not refresh(): we already hold the lock
      if (refreshed === "ended") return leave("ended");
      if (refreshed !== "ok") return refreshed;
      res = await send("POST", path, body);
    }
    if (res.ok) await remember(res.data.access_expires_in); // noted under the lock
    return res;
  });
}

// --- A note every tab reads alike ---------------------------------------------

// localStorage and the BroadcastChannel reach the other tabs *eventually*.
// In Chromium each tab (renderer process) reads its own copy of
// localStorage, which the browser process updates asynchronously, and
// nothing orders that update with the grant of a Web Lock. So a tab that
// waited for the lock could still see the old schedule when it gets the
// lock, and refresh a second time (with the new cookies: harmless, but a
// wasted rotation). IndexedDB keeps no such copies: a transaction that
// starts after another one has committed sees its writes, from any tab. So
// remember also writes the schedule there, and a refresh holds the lock
// until that write has committed; a tab that then gets the lock reads it
// (renewedSince). Where IndexedDB fails (storage blocked...), the note is
// missing, and localStorage and the channel remain.

const NOTES = "notes";
let notes = null; // the database, opened on first use

function database() {
  notes ??= new Promise((resolve) => {
    try {
      const req = indexedDB.open("auth", 1);
      req.onupgradeneeded = () => req.result.createObjectStore(NOTES);
      req.onsuccess = () => {
        req.result.onversionchange = () => req.result.close(); // let a newer page upgrade it
        resolve(req.result);
      };
      req.onerror = req.onblocked = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
  return notes;
}

// transact runs one request and resolves with its result once the
// transaction has committed; null if anything fails, or after a second
// without an answer: a database that hangs must not hold the lock.
function transact(mode, request) {
  const done = database().then((db) => new Promise((resolve) => {
    try {
      const tx = db.transaction(NOTES, mode);
      const req = request(tx.objectStore(NOTES));
      tx.oncomplete = () => resolve(req.result ?? null);
      tx.onerror = tx.onabort = () => resolve(null);
    } catch {
      resolve(null); // no database
    }
  }));
  return Promise.race([done, new Promise((resolve) => setTimeout(resolve, 1000, null))]);
}

const readNote = () => transact("readonly", (store) => store.get(SCHEDULE));
const writeNote = (schedule) => transact("readwrite", (store) => store.put(schedule, SCHEDULE));

// --- The proactive schedule, shared by the tabs -------------------------------

// remember notes that new cookies just arrived (sign-in, refresh, password
// change), tells the other tabs, and plans the next refresh. It stores only
// when and for how long, in this browser's own clock: never a token. It
// resolves once the note in IndexedDB is written: a refresh holds the lock
// until then.
function remember(expiresIn) {
  const schedule = { at: Date.now(), expiresIn };
  localStorage.setItem(SCHEDULE, JSON.stringify(schedule));
  channel?.postMessage({ type: "refreshed", ...schedule });
  plan(schedule);
  return writeNote(schedule);
}

function stored() {
  try {
    return JSON.parse(localStorage.getItem(SCHEDULE));
  } catch {
    return null;
  }
}

// The newest schedule: the stored one, or the one in a message, which may
// arrive before the other tab's write is visible here.
function current() {
  const mine = stored();
  return heard && (!mine || heard.at > mine.at) ? heard : mine;
}

const lastRefresh = () => current()?.at ?? 0; // when this browser last got new cookies
const wasSignedIn = () => signedIn || lost || stored() !== null;

// plan sets the timer for 80% of the access token's lifetime. A hidden tab
// lets its timer pass: background tabs need no fresh token, and their timers
// are throttled anyway. It catches up when it becomes visible again.
//
// Whatever access_expires_in says, the page must not refresh in a loop.
// Without a usable lifetime (0, missing, not a number) there is no timer:
// the reactive refresh still works. Otherwise the delay stays between 1
// second (never more than one refresh a second, whatever the schedule) and
// the longest that setTimeout takes, 2^31 - 1 ms, about 24.8 days (beyond
// that, it would fire at once).
const dueAt = (schedule) => schedule.at + schedule.expiresIn * 800; // 80%, in ms
const MIN_DELAY = 1000;
const MAX_DELAY = 2 ** 31 - 1;

function plan(schedule) {
  clearTimeout(timer);
  if (!(schedule?.expiresIn > 0 && Number.isFinite(schedule.at))) return;
  const delay = Math.min(Math.max(dueAt(schedule) - Date.now(), MIN_DELAY), MAX_DELAY);
  timer = setTimeout(() => {
    if (!document.hidden) proactive(schedule.at);
  }, delay);
}

async function proactive(since) {
  const refreshed = await refresh(since);
  if (refreshed === "ok") plan(current()); // also when another tab did it
  if (refreshed === "ended") {
    // Tell the user at once if this page shows their account. Other pages
    // forget the schedule; a protected call will still say why it failed.
    if (signedIn) return leave("ended");
    forget();
    lost = true;
  }
}

// A tab shown again plans anew: a refresh that came due while it was hidden
// runs a second later.
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) plan(current());
});

// Another tab refreshed (new timer, and requests waiting for the lock retry)
// or signed out (this tab shows an account that is no longer signed in).
channel?.addEventListener("message", ({ data }) => {
  if (data.type === "refreshed" && data.at >= lastRefresh()) {
    heard = { at: data.at, expiresIn: data.expiresIn };
    plan(heard);
  }
  if (data.type === "signed-out" && signedIn) location.assign(signInPage(data.reason));
});

plan(stored());

// --- Signing out ------------------------------------------------------------

function forget() {
  clearTimeout(timer);
  heard = null;
  localStorage.removeItem(SCHEDULE);
  transact("readwrite", (store) => store.delete(SCHEDULE));
}

// leave ends this browser's session on the page's side: it forgets the
// schedule, sends the other tabs to the sign-in page too, and goes there
// with a notice (see app.js). It never resolves.
function leave(reason) {
  forget();
  channel?.postMessage({ type: "signed-out", reason });
  location.assign(signInPage(reason));
  return new Promise(() => {});
}

const signInPage = (reason) => (reason ? "/login#" + reason : "/login");

// signOut ends this session: by the access cookie, or by the refresh cookie
// alone once the access cookie has expired, so no refresh is needed first.
// The server clears the cookies whatever the answer; only an unreachable
// server leaves the session as it was.
export async function signOut() {
  const res = await send("POST", "/api/auth/logout");
  return res.status === 0 ? res : leave("signed-out");
}

export async function signOutEverywhere() {
  const res = await api("POST", "/api/auth/logout-all");
  return res.ok ? leave("signed-out-everywhere") : res;
}

// deleteAccount deletes the account (after "Confirm it is you", like every
// sensitive route); the server has ended every session and cleared the
// cookies, so this browser leaves like a signed-out one, and so do its
// other tabs.
export async function deleteAccount() {
  const res = await api("DELETE", "/api/me");
  return res.ok ? leave("account-deleted") : res;
}
