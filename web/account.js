// The dashboard's account cards: change the email address, download my
// data, delete the account.
//
// All three routes are sensitive: a session whose password was given long
// ago gets 403 reauthentication_required, and api() (session.js) asks
// "Confirm it is you" and retries. Nothing here needs to know.
import { api, deleteAccount } from "./session.js";
import { $, failure, offerDevMailbox, onClick, onSubmit, say, show } from "./ui.js";

export function accountCards(user) {
  emailCard(user);
  dataCard(user);
}

// --- Email address ----------------------------------------------------------

// The change happens when the link mailed to the new address is opened
// (/confirm-email-change), maybe on another device: until then this page
// keeps showing the current address.
function emailCard(user) {
  onSubmit("email-form", async (fields, form) => {
    const res = await api("POST", "/api/me/email", fields);
    if (!res.ok) return say(failure(res), { into: "email-status" });
    say("", { into: "email-status" });
    $("email-sent-address").textContent = fields.new_email.trim();
    $("email-sent-current").textContent = user.email;
    form.reset();
    await offerDevMailbox();
    show("email-panel", "email-sent", "email-sent-title");
  });
  $("email-again").addEventListener("click", () => show("email-sent", "email-panel", "new-email"));
}

// --- Your data ----------------------------------------------------------------

const EXPORT_FILE = "authstarter-export.json";

function dataCard(user) {
  onClick("export-data", download);

  // Deleting cannot be undone: the button works once the user has typed
  // their address (in any case), so that no stray click or Enter does it.
  const confirmation = $("delete-confirm");
  const button = $("delete-account");
  $("delete-email").textContent = user.email;
  confirmation.addEventListener("input", () => {
    button.disabled = confirmation.value.trim().toLowerCase() !== user.email;
  });
  onSubmit("delete-form", async () => {
    const res = await deleteAccount(); // on success, the sign-in page
    if (res && !res.ok) say(failure(res), { into: "data-status" });
  });
}

// download asks for the export through api() (so that the prompt can
// appear), then saves it through a link made in the page (a Blob): the
// file never passes through another address.
async function download() {
  const res = await api("GET", "/api/me/export");
  if (!res.ok) return say(failure(res), { into: "data-status" });
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(new Blob([JSON.stringify(res.data, null, 2) + "\n"], { type: "application/json" })),
    download: EXPORT_FILE,
  });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000); // after the browser has read it
  say(`Your data is saved as ${EXPORT_FILE}.`, { kind: "ok", into: "data-status" });
}
