package server_test

// The example resource, through HTTP. A resource of your own gets tests
// like these: every route, every validation code, and another user.

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// noteOf decodes {"note": {...}}.
func noteOf(t *testing.T, r testapp.Response) map[string]any {
	t.Helper()
	note, ok := r.JSON(t)["note"].(map[string]any)
	if !ok {
		t.Fatalf("no note in %s", r.Body)
	}
	return note
}

func TestNotesLifecycle(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)

	r := b.Post("/api/notes", map[string]string{"title": "  Groceries  ", "body": "milk\neggs"})
	testapp.ExpectStatus(t, r, http.StatusCreated)
	note := noteOf(t, r)
	id, _ := note["id"].(string)
	if note["title"] != "Groceries" || note["body"] != "milk\neggs" || len(id) != 36 || note["created_at"] != note["updated_at"] {
		t.Fatalf("created note: %v", note)
	}

	if got := noteOf(t, b.Get("/api/notes/"+id)); got["title"] != "Groceries" {
		t.Fatalf("read back: %v", got)
	}

	app.Clock.Advance(time.Minute)
	r = b.Do(http.MethodPatch, "/api/notes/"+id, map[string]string{"body": "milk"})
	testapp.ExpectStatus(t, r, http.StatusOK)
	if got := noteOf(t, r); got["title"] != "Groceries" || got["body"] != "milk" || got["updated_at"] == got["created_at"] {
		t.Fatalf("a patch of the body alone: %v", got)
	}
	r = b.Do(http.MethodPatch, "/api/notes/"+id, map[string]string{"title": "Shopping"})
	if got := noteOf(t, r); got["title"] != "Shopping" || got["body"] != "milk" {
		t.Fatalf("a patch of the title alone: %v", got)
	}

	testapp.ExpectStatus(t, b.Do(http.MethodDelete, "/api/notes/"+id, nil), http.StatusNoContent)
	testapp.ExpectError(t, b.Get("/api/notes/"+id), http.StatusNotFound, "note_not_found")
	testapp.ExpectError(t, b.Do(http.MethodDelete, "/api/notes/"+id, nil), http.StatusNotFound, "note_not_found")
}

// Another user's note is not found, for every route, exactly like an id
// that does not exist: ids cannot be probed.
func TestNotesOfAnotherUserAreNotFound(t *testing.T) {
	app := testapp.New(t)
	owner, _ := app.SignedIn(t)
	stranger, _ := app.SignedIn(t)
	id, _ := noteOf(t, owner.Post("/api/notes", map[string]string{"title": "Mine"}))["id"].(string)

	for _, path := range []string{"/api/notes/" + id, "/api/notes/00000000-0000-4000-8000-000000000000", "/api/notes/not-an-id"} {
		testapp.ExpectError(t, stranger.Get(path), http.StatusNotFound, "note_not_found")
		testapp.ExpectError(t, stranger.Do(http.MethodPatch, path, map[string]string{"title": "Theirs"}), http.StatusNotFound, "note_not_found")
		testapp.ExpectError(t, stranger.Do(http.MethodDelete, path, nil), http.StatusNotFound, "note_not_found")
	}
	if got := stranger.Get("/api/notes").JSON(t)["notes"].([]any); len(got) != 0 {
		t.Fatalf("a stranger lists %d notes", len(got))
	}
	if got := noteOf(t, owner.Get("/api/notes/"+id)); got["title"] != "Mine" {
		t.Fatalf("the owner's note changed: %v", got)
	}
	// Without a session: 401, whichever the id.
	testapp.ExpectError(t, app.NewBrowser(t).Get("/api/notes/"+id), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, app.NewBrowser(t).Get("/api/notes"), http.StatusUnauthorized, "unauthenticated")
}

func TestNotesValidation(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	id, _ := noteOf(t, b.Post("/api/notes", map[string]string{"title": "A note"}))["id"].(string)
	tests := []struct {
		name   string
		method string
		path   string
		body   any
		code   string
	}{
		{"no title", http.MethodPost, "/api/notes", map[string]string{"body": "x"}, "missing_field"},
		{"blank title", http.MethodPost, "/api/notes", map[string]string{"title": "   "}, "invalid_title"},
		{"long title", http.MethodPost, "/api/notes", map[string]string{"title": strings.Repeat("é", 201)}, "invalid_title"},
		{"title with a line break", http.MethodPost, "/api/notes", map[string]string{"title": "a\nb"}, "invalid_title"},
		{"long body", http.MethodPost, "/api/notes", map[string]string{"title": "t", "body": strings.Repeat("é", 10_001)}, "body_too_long"},
		{"NUL in the body", http.MethodPost, "/api/notes", map[string]string{"title": "t", "body": "a\x00b"}, "invalid_body"},
		{"an owner in the body", http.MethodPost, "/api/notes", map[string]string{"title": "t", "user_id": "someone"}, "invalid_json"},
		{"an id in the body", http.MethodPost, "/api/notes", map[string]string{"title": "t", "id": id}, "invalid_json"},
		{"title of the wrong type", http.MethodPost, "/api/notes", map[string]any{"title": 5}, "invalid_json"},
		{"empty title in a patch", http.MethodPatch, "/api/notes/" + id, map[string]string{"title": ""}, "invalid_title"},
		{"long body in a patch", http.MethodPatch, "/api/notes/" + id, map[string]string{"body": strings.Repeat("x", 10_001)}, "body_too_long"},
		{"an owner in a patch", http.MethodPatch, "/api/notes/" + id, map[string]string{"user_id": "someone"}, "invalid_json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			testapp.ExpectError(t, b.Do(tt.method, tt.path, tt.body), http.StatusBadRequest, tt.code)
		})
	}
	// The limits themselves are allowed.
	r := b.Post("/api/notes", map[string]string{"title": strings.Repeat("é", 200), "body": strings.Repeat("é", 10_000)})
	testapp.ExpectStatus(t, r, http.StatusCreated)
	// A patch with no field changes nothing.
	before := noteOf(t, b.Get("/api/notes/"+id))
	if got := noteOf(t, b.Do(http.MethodPatch, "/api/notes/"+id, map[string]string{})); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Fatalf("an empty patch changed the note: %v → %v", before, got)
	}
}

// 25 notes in pages of 10: newest first, each note once, next_cursor null
// on the last page; a note added meanwhile does not shift the pages.
func TestNotesPagination(t *testing.T) {
	app := testapp.New(t)
	b, _ := app.SignedIn(t)
	for i := range 25 {
		testapp.ExpectStatus(t, b.Post("/api/notes", map[string]string{"title": fmt.Sprint("note ", i)}), http.StatusCreated)
		if i%2 == 0 {
			app.Clock.Advance(time.Second) // some notes share a created_at: the id breaks the tie
		}
	}
	var titles, order []string // order: created_at and id, as sorted
	cursor := ""
	for page := 0; ; page++ {
		q := url.Values{"limit": {"10"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := b.Get("/api/notes?" + q.Encode())
		testapp.ExpectStatus(t, r, http.StatusOK)
		body := r.JSON(t)
		for _, n := range body["notes"].([]any) {
			note := n.(map[string]any)
			titles = append(titles, note["title"].(string))
			order = append(order, note["created_at"].(string)+" "+note["id"].(string))
		}
		if page == 0 { // added after the first page was read
			testapp.ExpectStatus(t, b.Post("/api/notes", map[string]string{"title": "newer"}), http.StatusCreated)
		}
		next, _ := body["next_cursor"].(string)
		if next == "" {
			if body["next_cursor"] != nil {
				t.Fatalf("next_cursor %v on the last page, want null", body["next_cursor"])
			}
			break
		}
		cursor = next
	}
	if len(titles) != 25 {
		t.Fatalf("%d notes over the pages, want 25: %v", len(titles), titles)
	}
	seen := map[string]bool{}
	for _, title := range titles {
		if seen[title] {
			t.Fatalf("%q listed twice: %v", title, titles)
		}
		seen[title] = true
	}
	// Newest first; notes made in the same instant by id, descending. (The
	// clock moves by whole seconds here: every time has the same fraction,
	// so the strings sort as the times do.)
	for i := 1; i < len(order); i++ {
		if order[i] > order[i-1] {
			t.Fatalf("not newest first at %d: %q after %q", i, order[i], order[i-1])
		}
	}
	if titles[24] != "note 0" {
		t.Fatalf("the oldest note is not last: %v", titles)
	}

	r := b.Get("/api/notes")
	if got := len(r.JSON(t)["notes"].([]any)); got != 20 {
		t.Fatalf("the default page holds %d notes, want 20", got)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=ten", "cursor=garbage", "cursor=" + url.QueryEscape("bm90IGEgY3Vyc29y")} {
		testapp.ExpectError(t, b.Get("/api/notes?"+q), http.StatusBadRequest, "invalid_query")
	}
}
