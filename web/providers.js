// Sign-in with another provider (README "Sign in with another provider"):
// the "Continue with …" buttons of the sign-in and sign-up pages, the
// message of a sign-in that came back refused (/login?error=<code>), and
// the dashboard's card of linked accounts.
//
// Starting a sign-in is a plain navigation to the server's start route,
// which sends the browser on to the provider: no token passes through this
// page, and the provider sends the browser back to the server.
import { api, call, reauthenticate } from "./session.js";
import { $, ago, date, failure, fill, say } from "./ui.js";

// Why a sign-in at a provider came back refused, by the callback's code.
const refusals = {
  access_denied: "The sign-in was cancelled at the provider.",
  invalid_state: "This sign-in expired or was started in another browser. Try again.",
  provider_error: "The provider did not complete the sign-in. Try again.",
  invalid_token: "The provider's answer could not be verified. Try again.",
  provider_email_not_verified: "The provider has not verified your email address. Verify it there, or sign up with a password.",
  account_exists: "An account with this email address exists. Sign in with your password, then link the provider from your account's page.",
  identity_in_use: "This account at the provider is linked to another account here.",
  account_disabled: "This account has been disabled. Contact the site's administrators.",
};

// providerButtons adds a "Continue with …" link per configured provider to
// the element id (hidden while there is none).
export async function providerButtons(id) {
  const res = await call("GET", "/api/auth/providers");
  if (!res.ok || res.data.providers.length === 0) return;
  const box = $(id);
  box.replaceChildren(...res.data.providers.map((p) => {
    const a = document.createElement("a");
    a.className = "button secondary";
    a.href = `/api/auth/oauth/${encodeURIComponent(p.name)}/start`;
    a.textContent = `Continue with ${p.display_name}`;
    return a;
  }));
  box.hidden = false;
}

// providerRefusal shows why the callback sent the browser back here, and
// takes ?error= out of the address bar.
export function providerRefusal() {
  const code = new URLSearchParams(location.search).get("error");
  if (!code) return;
  history.replaceState(null, "", location.pathname + location.hash);
  say(refusals[code] ?? "The sign-in with the provider did not work. Try again.");
}

// --- The dashboard's card -----------------------------------------------------

export async function identitiesCard() {
  await resumeLink();
  const [providers, list] = await Promise.all([call("GET", "/api/auth/providers"), api("GET", "/api/me/identities")]);
  if (!providers.ok || providers.data.providers.length === 0) return; // none configured: no card
  $("identities-card").hidden = false;
  if (!list.ok) return say(failure(list), { into: "identity-status" });
  const names = Object.fromEntries(providers.data.providers.map((p) => [p.name, p.display_name]));
  $("identity-list").replaceChildren(...list.data.identities.map((i) => item(i, names[i.provider] ?? i.provider)));
  $("identities-none").hidden = list.data.identities.length > 0;
  // Linking needs a recent sign-in, as adding a passkey does: without one
  // the server sends the browser back here with ?link= (resumeLink).
  $("identity-links").replaceChildren(...providers.data.providers.map((p) => {
    const a = document.createElement("a");
    a.className = "button secondary small";
    a.href = `/api/auth/oauth/${encodeURIComponent(p.name)}/start?link=1`;
    a.textContent = `Link ${p.display_name}`;
    return a;
  }));
}

// resumeLink finishes a link that the server sent back for a recent
// sign-in (/?link=<provider>): once the user has confirmed it is them,
// the link starts again; if they cancel, nothing happens.
async function resumeLink() {
  const provider = new URLSearchParams(location.search).get("link");
  if (!provider) return;
  history.replaceState(null, "", location.pathname + location.hash);
  if (await reauthenticate()) location.assign(`/api/auth/oauth/${encodeURIComponent(provider)}/start?link=1`);
}

function item(identity, displayName) {
  const li = fill("identity-item", { provider: displayName, email: identity.email, created: `Linked ${ago(identity.created_at)}` });
  li.querySelector("[data-field=created]").title = date(identity.created_at);
  const remove = li.querySelector("button");
  remove.setAttribute("aria-label", `Unlink ${displayName} (${identity.email})`);
  remove.addEventListener("click", async () => {
    const res = await api("DELETE", `/api/me/identities/${encodeURIComponent(identity.id)}`);
    if (!res.ok) return say(failure(res), { into: "identity-status" });
    say(`${displayName} unlinked.`, { kind: "ok", into: "identity-status" });
    await identitiesCard();
  });
  return li;
}
