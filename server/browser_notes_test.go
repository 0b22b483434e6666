package server_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/chromedp/chromedp"
)

// The dashboard's notes card, driven as a user would: add two notes, edit
// one, delete the other; another user's dashboard shows none of them; a
// long list is read a page at a time.
func TestBrowserNotes(t *testing.T) {
	app := testapp.New(t)
	_, email := app.SignedIn(t)
	tab := newTab(t)
	browse(t, tab, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitText(t, tab, "who", "Signed in as "+email)
	waitUntil(t, tab, `!document.querySelector("#note-form fieldset").disabled`)

	fillAndSubmit(t, tab, "note-form", "note-title", "Groceries", "note-body", "milk\neggs")
	waitText(t, tab, "note-status", "Note added.")
	app.Clock.Advance(time.Second) // the server's clock is the test's: make "Ideas" the newer
	fillAndSubmit(t, tab, "note-form", "note-title", "Ideas")
	waitText(t, tab, "note-list", "Ideas")
	if got := evaluate[string](t, tab, `document.querySelector("#note-list .item .item-title").textContent`); got != "Ideas" {
		t.Fatalf("the newest note is not first: %q", got)
	}

	// Edit "Groceries": the form takes the note, and saves it in place.
	click(t, tab, `#note-list .item:nth-child(2) [data-action=edit]`)
	waitUntil(t, tab, `document.getElementById("note-title").value === "Groceries" && document.activeElement.id === "note-title"`)
	fillAndSubmit(t, tab, "note-form", "note-body", "bread")
	waitText(t, tab, "note-status", "Note saved.")
	waitUntil(t, tab, `[...document.querySelectorAll("#note-list .note-body")].some((p) => p.textContent === "bread")`)
	if n := evaluate[int](t, tab, `document.querySelectorAll("#note-list .item").length`); n != 2 {
		t.Fatalf("%d notes listed after an edit, want 2", n)
	}

	// A title the server refuses: its message, and nothing stored.
	fillAndSubmit(t, tab, "note-form", "note-title", "   ")
	waitText(t, tab, "note-status", "title of 1 to 200 characters")

	// Delete "Ideas".
	click(t, tab, `#note-list .item:first-child [data-action=delete]`)
	waitText(t, tab, "note-status", `Deleted "Ideas".`)
	waitUntil(t, tab, `document.querySelectorAll("#note-list .item").length === 1 && document.activeElement.id === "notes-title"`)

	// Another user sees none of them.
	other := otherDevice(t, tab, desktop)
	_, stranger := app.SignedIn(t)
	browse(t, other, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, other, "login-form", "login-email", stranger, "login-password", testapp.Password)
	waitText(t, other, "who", "Signed in as "+stranger)
	waitUntil(t, other, `document.getElementById("notes-card").getAttribute("aria-busy") === "false" && document.querySelectorAll("#note-list .item").length === 0`)

	// More notes than a page: the rest behind "Show older notes".
	b := app.Login(t, email)
	for i := range 21 {
		app.Clock.Advance(time.Second)
		testapp.ExpectStatus(t, b.Post("/api/notes", map[string]string{"title": fmt.Sprint("note ", i)}), http.StatusCreated)
	}
	browse(t, tab, chromedp.Reload())
	waitUntil(t, tab, `document.querySelectorAll("#note-list .item").length === 20 && !document.getElementById("note-more-foot").hidden`)
	click(t, tab, "#note-more")
	waitUntil(t, tab, `document.querySelectorAll("#note-list .item").length === 22 && document.getElementById("note-more-foot").hidden`)
}
