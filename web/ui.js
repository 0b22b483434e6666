// Small DOM helpers shared by the views. Text always goes in through
// textContent, never innerHTML: a session's user agent, for one, is whatever
// the client sent.

export const $ = (id) => document.getElementById(id);

// say puts a message into a live region (role="status"), which screen
// readers announce. kind ("error", "ok" or "info") only picks the style; the
// words carry the meaning.
//
// A screen reader announces a change of the region, and writing the same
// words again (a second wrong password) is none. So say empties the region
// at once and writes the message a moment later, in a task of its own: the
// empty region and the message are two changes, and the message is
// announced every time. (A frame is too short: the empty state might never
// reach the accessibility tree. A hidden tab's timers run late, but run.)
// A newer message, or "" to clear, replaces one still waiting.
const ANNOUNCE_DELAY = 100; // ms
const waiting = new Map(); // region → timer of its message

export function say(text, { kind = "error", into = "status" } = {}) {
  const region = $(into);
  clearTimeout(waiting.get(region));
  waiting.delete(region);
  region.textContent = "";
  if (!text) return;
  waiting.set(region, setTimeout(() => {
    waiting.delete(region);
    region.dataset.kind = kind;
    region.textContent = text;
  }, ANNOUNCE_DELAY));
}

export const failure = (res) => res.data.error?.message ?? "Something went wrong. Please try again.";

// onSubmit runs handler with the form's fields. While it runs, the button is
// marked busy (aria-disabled keeps it focusable, so keyboard users do not
// lose their place, as they would with disabled) and further submits wait.
//
// In index.html, every form's fields are in a <fieldset disabled>: until
// this handler is attached, the form cannot be submitted at all (Enter in a
// field would otherwise post it natively, passwords included, to the page's
// own address). onSubmit enables it once it has taken the form over.
export function onSubmit(id, handler) {
  const form = $(id);
  const button = form.querySelector("button[type=submit]");
  let busy = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    button.setAttribute("aria-disabled", "true");
    try {
      await handler(Object.fromEntries(new FormData(form)), form);
    } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
    }
  });
  for (const set of form.querySelectorAll("fieldset")) set.disabled = false;
}

// onClick runs handler when the button is pressed; like onSubmit, the
// button is marked busy while it runs, and further presses wait.
export function onClick(id, handler) {
  const button = $(id);
  let busy = false;
  button.addEventListener("click", async () => {
    if (busy) return;
    busy = true;
    button.setAttribute("aria-disabled", "true");
    try {
      await handler();
    } finally {
      busy = false;
      button.removeAttribute("aria-disabled");
    }
  });
}

// show swaps one panel for another and moves the focus to the new panel's
// heading, so that keyboard and screen reader users land on what changed;
// or to the element focus, where the user has to type next.
export function show(hide, reveal, focus) {
  $(hide).hidden = true;
  $(reveal).hidden = false;
  (focus ? $(focus) : $(reveal).querySelector("h1, h2"))?.focus();
}

// alternatives lets a form take one of two fields (a code or a recovery
// code; a password or a code), one at a time. The other one is hidden with
// its .field and disabled, so the form neither requires nor sends it. The
// button switches, its text saying what it switches to: its own text for
// the second field, data-other for the first. It returns a function that
// goes back to the first field.
export function alternatives(buttonID, firstID, secondID) {
  const button = $(buttonID);
  const [first, second] = [$(firstID), $(secondID)];
  const offers = new Map([[first, button.dataset.other], [second, button.textContent]]);
  const pick = (field) => {
    for (const each of [first, second]) {
      each.disabled = each !== field;
      each.closest(".field").hidden = each !== field;
    }
    button.textContent = offers.get(field === first ? second : first);
  };
  button.addEventListener("click", () => {
    const other = first.disabled ? first : second;
    pick(other);
    other.focus();
  });
  pick(first);
  return () => pick(first);
}

// The development mailbox exists only while the server shows mail instead
// of sending it: ask it, rather than guess from the host name. (The only
// request that does not go through session.js: it is no API call.)
export async function offerDevMailbox() {
  const res = await fetch("/dev/mail", { method: "HEAD" }).catch(() => null);
  for (const el of document.querySelectorAll(".dev-mail")) el.hidden = !res?.ok;
}

// fill clones a <template> and sets the text of its [data-field] elements.
export function fill(templateID, fields) {
  const node = $(templateID).content.firstElementChild.cloneNode(true);
  for (const el of node.querySelectorAll("[data-field]")) {
    const value = fields[el.dataset.field];
    if (value === undefined || value === "") el.hidden = true;
    else el.textContent = value;
  }
  return node;
}

// --- Dates ------------------------------------------------------------------

// In the page's language (<html lang>), so that dates match the words around them.
const lang = document.documentElement.lang;
const relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });

export const date = (iso) => new Date(iso).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });

// ago says "5 minutes ago" for the last week, the date before that. A time a
// little ahead of this computer's clock is "just now".
export function ago(iso) {
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  if (seconds > -60) return "just now";
  if (seconds < -7 * 86400) return date(iso);
  const [unit, size] = [["day", 86400], ["hour", 3600], ["minute", 60]].find(([, size]) => -seconds >= size);
  return relative.format(Math.round(seconds / size), unit);
}

// --- Devices ----------------------------------------------------------------

// device names the browser and system of a user agent: "Firefox on
// Windows". Good enough to recognise one's own devices; not a fingerprint.
// The order matters: Chrome's agent also says Safari, Edge's also Chrome.
export function device(ua) {
  if (!ua) return "Unknown device";
  const browser = [
    [/Edg(e|A|iOS)?\//, "Edge"], [/OPR\//, "Opera"], [/(Firefox|FxiOS)\//, "Firefox"],
    [/(Chrome|Chromium|CriOS)\//, "Chrome"], [/Safari\//, "Safari"],
  ].find(([re]) => re.test(ua))?.[1];
  const system = [
    [/iPhone/, "iPhone"], [/iPad/, "iPad"], [/Android/, "Android"], [/CrOS/, "ChromeOS"],
    [/Mac OS X|Macintosh/, "macOS"], [/Windows/, "Windows"], [/Linux/, "Linux"],
  ].find(([re]) => re.test(ua))?.[1];
  if (!browser) return ua.split(/[/\s]/)[0].slice(0, 40); // curl, an app, a script
  return system ? `${browser} on ${system}` : browser;
}
