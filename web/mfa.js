// The two-step verification card of the dashboard (/api/auth/mfa): set up
// an authenticator app (TOTP), get recovery codes, turn it off.
//
// Setting up, new recovery codes and turning off are sensitive: when the
// user last gave their password long ago, the server answers 403
// reauthentication_required, and api() (session.js) asks for the password
// and retries. Nothing here needs to know.
import { api } from "./session.js";
import { $, failure, onClick, onSubmit, say } from "./ui.js";

const PANELS = ["mfa-off", "mfa-on", "mfa-setup-panel", "mfa-codes-panel"];
let email = ""; // whose codes: written into the downloaded file
let codesText = ""; // the codes on show, as the text that Copy and Download give

export async function mfaCard(user) {
  email = user.email;
  onClick("mfa-setup", setUp);
  onSubmit("mfa-confirm-form", confirm);
  onClick("mfa-setup-cancel", () => load({ focus: true })); // the secret stays pending, unused: a new set-up replaces it
  onClick("mfa-new-codes", newCodes);
  onClick("mfa-disable", turnOff);
  onClick("mfa-copy", copyCodes);
  onClick("mfa-codes-done", () => load({ focus: true }));
  await load();
}

const done = (text) => say(text, { kind: "ok", into: "mfa-status" });
const refused = (res) => say(failure(res), { into: "mfa-status" });

// showPanel shows one of the card's panels and hides the others. The
// recovery codes leave the page with their panel: they are shown once.
function showPanel(id) {
  for (const panel of PANELS) $(panel).hidden = panel !== id;
  if (id !== "mfa-codes-panel") forgetCodes();
}

// load shows whether two-step verification is on. focus moves the focus to
// the card's title, for when the button that had it is gone.
async function load({ focus = false } = {}) {
  const card = $("mfa-card");
  card.setAttribute("aria-busy", "true");
  const res = await api("GET", "/api/auth/mfa");
  card.setAttribute("aria-busy", "false");
  if (!res.ok) return refused(res);
  const left = res.data.recovery_codes_left;
  $("mfa-codes-left").textContent = left === 1 ? "1 recovery code left" : `${left} recovery codes left`;
  if (left < 3) $("mfa-codes-left").textContent += ": make new ones before you run out.";
  showPanel(res.data.totp ? "mfa-on" : "mfa-off");
  if (focus) $("mfa-title").focus();
}

// --- Set up ---------------------------------------------------------------

async function setUp() {
  const res = await api("POST", "/api/auth/mfa/totp/setup");
  if (!res.ok) return refused(res);
  say("", { into: "mfa-status" });
  // An <img> of the server's SVG: an image cannot run script, and img-src
  // allows data: URLs, so the Content Security Policy stays as strict.
  $("mfa-qr").src = "data:image/svg+xml," + encodeURIComponent(res.data.qr_svg);
  // In groups of four, easier to type; authenticator apps ignore the spaces.
  $("mfa-secret").textContent = res.data.secret.match(/.{1,4}/g).join(" ");
  $("mfa-uri").href = res.data.otpauth_uri;
  $("mfa-confirm-form").reset();
  showPanel("mfa-setup-panel");
  $("mfa-setup-panel").querySelector("h3").focus();
}

async function confirm(fields) {
  const res = await api("POST", "/api/auth/mfa/totp/confirm", fields);
  if (!res.ok) return refused(res); // a wrong code (try the next one), or a set-up replaced in another tab
  done("Two-step verification is on. From now on, signing in asks for a code from your app.");
  showCodes(res.data.recovery_codes);
}

// --- Recovery codes ---------------------------------------------------------

async function newCodes() {
  const res = await api("POST", "/api/auth/mfa/recovery-codes");
  if (!res.ok) return refused(res);
  done("New recovery codes: the old ones no longer work.");
  showCodes(res.data.recovery_codes);
}

function showCodes(codes) {
  codesText = `Recovery codes for ${email} at ${location.host}\n` +
    "Each code signs you in once, instead of a code from your authenticator app.\n\n" +
    codes.join("\n") + "\n";
  $("mfa-codes").replaceChildren(...codes.map((code) => {
    const li = document.createElement("li");
    li.append(Object.assign(document.createElement("code"), { textContent: code }));
    return li;
  }));
  showPanel("mfa-codes-panel");
  // A link to the file, made in the page (a Blob): the codes go to no server.
  $("mfa-download").href = URL.createObjectURL(new Blob([codesText], { type: "text/plain" }));
  $("mfa-codes-panel").querySelector("h3").focus();
}

function forgetCodes() {
  if (!codesText) return;
  URL.revokeObjectURL($("mfa-download").href);
  $("mfa-download").removeAttribute("href");
  $("mfa-codes").replaceChildren();
  codesText = "";
}

async function copyCodes() {
  try {
    await navigator.clipboard.writeText(codesText);
    done("Recovery codes copied.");
  } catch {
    // No clipboard (an insecure origin, a browser that refuses): by hand.
    say("This browser did not let the page copy. Select the codes and copy them, or download them.", { into: "mfa-status" });
  }
}

// --- Turn off ---------------------------------------------------------------

async function turnOff() {
  const res = await api("DELETE", "/api/auth/mfa/totp");
  // 409 mfa_not_enabled: turned off already (another tab), as the user wanted.
  if (!res.ok && res.status !== 409) return refused(res);
  done("Two-step verification is off. Signing in asks for your password only.");
  await load({ focus: true });
}
