// The re-authentication prompt: "Confirm it is you". api() (session.js)
// opens it when a sensitive route answers 403 reauthentication_required,
// and retries the request once the user has confirmed. It is a modal
// <dialog>: the rest of the page is inert meanwhile, Escape cancels, and
// the focus goes back to where it was (the button that asked) when it
// closes.
import { $, alternatives, failure, onSubmit, say } from "./ui.js";

const dialog = $("reauth");
const usePassword = alternatives("reauth-switch", "reauth-password", "reauth-code");
let current = null; // the open prompt: { submit, resolve, confirmed }

// confirmIdentity shows the prompt: the password, or (totp) a code from the
// authenticator app instead. submit sends what the user typed and returns
// the server's answer; a refusal (wrong password, too many attempts) is
// shown in the prompt, which stays open. It resolves true once submit
// succeeded, false when the user cancels.
export function confirmIdentity({ totp, submit }) {
  return new Promise((resolve) => {
    current = { submit, resolve, confirmed: false };
    $("reauth-form").reset();
    usePassword();
    $("reauth-other").hidden = !totp;
    say("", { into: "reauth-status" });
    dialog.showModal();
    $("reauth-password").focus();
  });
}

onSubmit("reauth-form", async (proof) => {
  const res = await current.submit(proof);
  if (!res.ok) return say(failure(res), { into: "reauth-status" });
  current.confirmed = true;
  dialog.close();
});
$("reauth-cancel").addEventListener("click", () => dialog.close());
// Every way out (confirmed, Cancel, Escape) ends here.
dialog.addEventListener("close", () => current.resolve(current.confirmed));
