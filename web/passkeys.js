// Passkeys (/api/auth/passkeys): the dashboard's card (add one, list them,
// rename, delete) and the sign-in page's "Sign in with a passkey".
//
// The browser and the user's device make and use the passkey
// (navigator.credentials); this page only carries the server's options to
// the browser and its answer back, in WebAuthn's JSON form
// (PublicKeyCredential.parseCreationOptionsFromJSON,
// parseRequestOptionsFromJSON and toJSON). Where the browser lacks them,
// neither the card nor the button shows.
//
// Adding and deleting a passkey are sensitive: when the user last proved
// who they are long ago, api() (session.js) asks them to confirm, and
// retries. Nothing here needs to know.
import { api, call } from "./session.js";
import { $, ago, date, failure, fill, onClick, onSubmit, say } from "./ui.js";

const supported = typeof window.PublicKeyCredential?.parseRequestOptionsFromJSON === "function";

// --- Sign in ------------------------------------------------------------------

// passkeySignIn offers "Sign in with a passkey" on the sign-in page: no
// email to type, the device shows the passkeys it holds for this site.
export function passkeySignIn() {
  if (!supported) return;
  $("passkey-signin").hidden = false;
  onClick("passkey-signin-button", signIn);
}

async function signIn() {
  const options = await call("POST", "/api/auth/passkeys/login/options"); // also sets the challenge's cookie
  if (!options.ok) return say(failure(options));
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.data.publicKey);
    credential = await navigator.credentials.get({ publicKey });
  } catch (err) {
    return say(browserRefusal(err));
  }
  const res = await call("POST", "/api/auth/passkeys/login", { credential: credential.toJSON() });
  if (res.ok) return location.assign("/");
  say(failure(res)); // the server says why: a passkey it does not know (removed), an expired sign-in...
}

// --- The dashboard's card -----------------------------------------------------

let renaming = null; // the passkey in the form, or null when adding

export async function passkeysCard() {
  if (!supported) return;
  $("passkeys-card").hidden = false;
  onSubmit("passkey-form", save);
  $("passkey-cancel").addEventListener("click", stopRenaming);
  await load();
}

const done = (text) => say(text, { kind: "ok", into: "passkey-status" });
const refused = (text) => say(text, { into: "passkey-status" });

async function load() {
  const card = $("passkeys-card");
  card.setAttribute("aria-busy", "true");
  const res = await api("GET", "/api/auth/passkeys");
  card.setAttribute("aria-busy", "false");
  if (!res.ok) return refused(failure(res));
  $("passkey-list").replaceChildren(...res.data.passkeys.map(item));
  $("passkeys-none").hidden = res.data.passkeys.length > 0;
}

function item(passkey) {
  const li = fill("passkey-item", {
    name: passkey.name,
    created: `Added ${ago(passkey.created_at)}`,
    used: passkey.last_used_at ? `Last used ${ago(passkey.last_used_at)}` : "Not used yet",
  });
  li.dataset.passkey = passkey.id;
  li.querySelector("[data-field=created]").title = date(passkey.created_at);
  const [rename, remove] = li.querySelectorAll("button");
  // The visible labels are short; screen readers hear which passkey.
  rename.setAttribute("aria-label", `Rename the passkey ${passkey.name}`);
  remove.setAttribute("aria-label", `Delete the passkey ${passkey.name}`);
  rename.addEventListener("click", () => startRenaming(passkey));
  remove.addEventListener("click", () => destroy(passkey));
  return li;
}

async function save({ name }, form) {
  if (renaming) {
    const res = await api("PATCH", `/api/auth/passkeys/${encodeURIComponent(renaming.id)}`, { name });
    if (!res.ok) return refused(failure(res));
    done(`Renamed to "${res.data.passkey.name}".`);
  } else {
    const added = await add(name);
    if (!added) return;
    done(`Passkey "${added.name}" added. Next time, sign in with it: no password needed.`);
  }
  form.reset();
  stopRenaming();
  await load();
}

// add asks the server for options, the browser for a new passkey, and the
// server to keep it. It returns the passkey, or null once it has shown why
// there is none.
async function add(name) {
  const options = await api("POST", "/api/auth/passkeys/register/options");
  if (!options.ok) {
    refused(failure(options));
    return null;
  }
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.data.publicKey);
    credential = await navigator.credentials.create({ publicKey });
  } catch (err) {
    refused(browserRefusal(err));
    return null;
  }
  const res = await api("POST", "/api/auth/passkeys/register", { name, credential: credential.toJSON() });
  if (!res.ok) {
    refused(failure(res));
    return null;
  }
  return res.data.passkey;
}

function startRenaming(passkey) {
  renaming = passkey;
  $("passkey-name").value = passkey.name;
  $("passkey-name").required = true;
  $("passkey-name-label").textContent = `New name for "${passkey.name}"`;
  $("passkey-save").textContent = "Rename";
  $("passkey-cancel").hidden = false;
  $("passkey-name").focus();
}

function stopRenaming() {
  renaming = null;
  $("passkey-form").reset();
  $("passkey-name").required = false;
  $("passkey-name-label").textContent = "Name";
  $("passkey-save").textContent = "Add a passkey";
  $("passkey-cancel").hidden = true;
}

async function destroy(passkey) {
  const res = await api("DELETE", `/api/auth/passkeys/${encodeURIComponent(passkey.id)}`);
  // 404: it is gone already, which is what the user wanted.
  if (!res.ok && res.status !== 404) return refused(failure(res));
  if (renaming?.id === passkey.id) stopRenaming();
  done(`Deleted "${passkey.name}". Your device may still offer it: remove it there too.`);
  await load();
  $("passkeys-title").focus(); // the button that had the focus is gone
}

// browserRefusal says why the browser made or used no passkey. The user
// closing its dialog and a timeout are one error, on purpose: a page must
// not learn which passkeys a device holds.
function browserRefusal(err) {
  switch (err?.name) {
    case "NotAllowedError":
      return "No passkey was used: the request was cancelled or timed out.";
    case "InvalidStateError":
      return "This device already holds a passkey for your account.";
    case "SecurityError":
      return "This browser does not allow passkeys for this address.";
    default:
      return "This browser could not use a passkey. Try again, or use another way.";
  }
}
