// The notes card of the dashboard: the example resource (/api/notes), to
// copy for a resource of your own. The list is read a page at a time; the
// form adds a note, or, after "Edit", saves the one being edited.
import { api } from "./session.js";
import { $, ago, date, failure, fill, onSubmit, say } from "./ui.js";

let editing = null; // the id of the note in the form, or null when adding
let cursor = null; // next_cursor of the last page read

export async function notesCard() {
  onSubmit("note-form", save);
  $("note-cancel").addEventListener("click", stopEditing);
  $("note-more").addEventListener("click", () => load({ more: true }));
  await load();
}

// load reads the first page again, or (more) the next one.
async function load({ more = false } = {}) {
  const card = $("notes-card");
  card.setAttribute("aria-busy", "true");
  const query = more && cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
  const res = await api("GET", `/api/notes${query}`);
  card.setAttribute("aria-busy", "false");
  if (!res.ok) return say(failure(res), { into: "note-status" });
  const items = res.data.notes.map(item);
  if (more) $("note-list").append(...items);
  else $("note-list").replaceChildren(...items);
  cursor = res.data.next_cursor;
  $("note-more-foot").hidden = cursor === null;
}

function item(note) {
  const li = fill("note-item", { title: note.title, body: note.body, updated: `Updated ${ago(note.updated_at)}` });
  li.dataset.note = note.id;
  li.querySelector("[data-field=updated]").title = date(note.updated_at);
  const [edit, remove] = li.querySelectorAll("button");
  // The visible labels are short; screen readers hear which note.
  edit.setAttribute("aria-label", `Edit the note ${note.title}`);
  remove.setAttribute("aria-label", `Delete the note ${note.title}`);
  edit.addEventListener("click", () => startEditing(note));
  remove.addEventListener("click", () => destroy(note));
  return li;
}

async function save(fields, form) {
  const res = editing
    ? await api("PATCH", `/api/notes/${encodeURIComponent(editing)}`, fields)
    : await api("POST", "/api/notes", fields);
  if (!res.ok) return say(failure(res), { into: "note-status" });
  say(editing ? "Note saved." : "Note added.", { kind: "ok", into: "note-status" });
  form.reset();
  stopEditing();
  await load();
}

function startEditing(note) {
  editing = note.id;
  $("note-title").value = note.title;
  $("note-body").value = note.body;
  $("note-save").textContent = "Save note";
  $("note-cancel").hidden = false;
  $("note-title").focus();
}

function stopEditing() {
  editing = null;
  $("note-form").reset();
  $("note-save").textContent = "Add note";
  $("note-cancel").hidden = true;
}

async function destroy(note) {
  const res = await api("DELETE", `/api/notes/${encodeURIComponent(note.id)}`);
  // 404: it is gone already, which is what the user wanted.
  if (!res.ok && res.status !== 404) return say(failure(res), { into: "note-status" });
  if (editing === note.id) stopEditing();
  say(`Deleted "${note.title}".`, { kind: "ok", into: "note-status" });
  await load();
  $("notes-title").focus(); // the button that had the focus is gone
}
