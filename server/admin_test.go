package server_test

// Roles and administration, through HTTP: who reaches /api/admin, what each
// admin route does to the account it acts on (at once, like logout-all),
// the last administrator, the audit log, and that no public route can set
// a role.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/internal/testapp"
	"github.com/authstarter/authstarter/models"
)

// newAdmin creates a verified administrator and signs it in on a new
// browser (the command line's create-user --admin does the same).
func newAdmin(t *testing.T, app *testapp.App) (*testapp.Browser, models.User) {
	t.Helper()
	user, err := app.Accounts.CreateVerified(context.Background(), auth.Registration{
		Email: testapp.UniqueEmail(), Password: testapp.Password, Name: "Admin", Role: models.RoleAdmin,
	})
	if err != nil {
		t.Fatal(err)
	}
	return app.Login(t, user.Email), user
}

// userObject decodes {"user": {...}}.
func userObject(t *testing.T, r testapp.Response) map[string]any {
	t.Helper()
	u, ok := r.JSON(t)["user"].(map[string]any)
	if !ok {
		t.Fatalf("no user in %s", r.Body)
	}
	return u
}

// signedInUser signs a new account in and returns its browser and id.
func signedInUser(t *testing.T, app *testapp.App) (*testapp.Browser, string, string) {
	t.Helper()
	b, email := app.SignedIn(t)
	me := userObject(t, b.Get("/api/me"))
	if me["role"] != models.RoleUser {
		t.Fatalf("a new account's role: %v", me["role"])
	}
	return b, email, me["id"].(string)
}

// adminRoutes are the admin routes, with the user they act on as {id}.
var adminRoutes = []struct{ method, path, body string }{
	{http.MethodGet, "/api/admin/users", ""},
	{http.MethodGet, "/api/admin/users/{id}", ""},
	{http.MethodPatch, "/api/admin/users/{id}", `{"role":"admin"}`},
	{http.MethodGet, "/api/admin/users/{id}/sessions", ""},
	{http.MethodPost, "/api/admin/users/{id}/revoke-sessions", ""},
	{http.MethodPost, "/api/admin/users/{id}/disable", ""},
	{http.MethodPost, "/api/admin/users/{id}/enable", ""},
}

// Without a session: 401. With a user's session: 403 forbidden, and
// nothing happens to the account named. The routes listed are every route
// the app has under /api/admin.
func TestAdminRoutesNeedAnAdministrator(t *testing.T) {
	app := testapp.New(t)
	user, _, userID := signedInUser(t, app)
	_, victimEmail, victimID := signedInUser(t, app)

	listed := map[string]bool{}
	for _, r := range adminRoutes {
		listed[r.method+" "+strings.ReplaceAll(r.path, "{id}", ":id")] = true
	}
	for _, r := range app.App.GetRoutes(true) {
		if strings.HasPrefix(r.Path, "/api/admin/") && r.Method != http.MethodHead && !listed[r.Method+" "+r.Path] {
			t.Errorf("%s %s is not in adminRoutes", r.Method, r.Path)
		}
	}

	for _, r := range adminRoutes {
		path := strings.ReplaceAll(r.path, "{id}", victimID)
		testapp.ExpectError(t, app.NewBrowser(t).Send(r.method, path, r.body, "Content-Type", "application/json"), http.StatusUnauthorized, "unauthenticated")
		testapp.ExpectError(t, user.Send(r.method, path, r.body, "Content-Type", "application/json"), http.StatusForbidden, "forbidden")
	}
	// The refused disable and revocations did nothing.
	testapp.ExpectStatus(t, user.Get("/api/me"), http.StatusOK)
	app.Login(t, victimEmail)
	if u, _ := app.Accounts.User(context.Background(), userID); u.Role != models.RoleUser {
		t.Fatalf("a refused role change changed the role: %q", u.Role)
	}
}

func TestAdminFindsUsers(t *testing.T) {
	app := testapp.New(t)
	admin, _ := newAdmin(t, app)
	ctx := context.Background()
	for _, name := range []string{"Ada Lovelace", "Alan Turing", "Grace Hopper", "100% Real_Name"} {
		app.Clock.Advance(1e9) // distinct creation times, so the order is known
		if _, err := app.Accounts.CreateVerified(ctx, auth.Registration{Email: testapp.UniqueEmail(), Password: testapp.Password, Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	names := func(r testapp.Response) (out []string, next string) {
		t.Helper()
		testapp.ExpectStatus(t, r, http.StatusOK)
		var page struct {
			Users []struct {
				Name     string `json:"name"`
				Role     string `json:"role"`
				Disabled *bool  `json:"disabled"`
			} `json:"users"`
			NextCursor *string `json:"next_cursor"`
		}
		r.Decode(t, &page)
		for _, u := range page.Users {
			if u.Disabled == nil || u.Role == "" {
				t.Fatalf("a listed user lacks role or disabled: %s", r.Body)
			}
			out = append(out, u.Name)
		}
		if page.NextCursor != nil {
			next = *page.NextCursor
		}
		return out, next
	}

	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"a", []string{"100% Real_Name", "Grace Hopper", "Alan Turing", "Ada Lovelace", "Admin"}}, // newest first
		{"TURING", []string{"Alan Turing"}},
		{"%", []string{"100% Real_Name"}}, // a substring, not a pattern
		{"a_e", nil},                      // "_" is no wildcard either ("Grace")
		{"admin", []string{"Admin"}},
		{"nobody", nil},
	} {
		got, _ := names(admin.Get("/api/admin/users?query=" + url.QueryEscape(tt.query)))
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("query %q: %q, want %q", tt.query, got, tt.want)
		}
	}

	// Paging: two at a time, every user once, in order.
	var all []string
	for path := "/api/admin/users?limit=2"; ; {
		page, next := names(admin.Get(path))
		all = append(all, page...)
		if next == "" {
			break
		}
		path = "/api/admin/users?limit=2&cursor=" + url.QueryEscape(next)
	}
	if strings.Join(all, "|") != "100% Real_Name|Grace Hopper|Alan Turing|Ada Lovelace|Admin" {
		t.Fatalf("paged: %q", all)
	}

	for _, bad := range []string{"limit=0", "limit=101", "limit=x", "cursor=nonsense", "query=" + strings.Repeat("a", 255), "query=%00"} {
		testapp.ExpectError(t, admin.Get("/api/admin/users?"+bad), http.StatusBadRequest, "invalid_query")
	}
	testapp.ExpectError(t, admin.Get("/api/admin/users/"+models.NewID()), http.StatusNotFound, "user_not_found")
	testapp.ExpectError(t, admin.Get("/api/admin/users/not-an-id"), http.StatusNotFound, "user_not_found")
	testapp.ExpectError(t, admin.Get("/api/admin/users/"+models.NewID()+"/sessions"), http.StatusNotFound, "user_not_found")
	testapp.ExpectError(t, admin.Post("/api/admin/users/"+models.NewID()+"/disable", nil), http.StatusNotFound, "user_not_found")
}

// Revoking, disabling and enabling an account, as the user notices it: at
// once, the way logout-all ends sessions.
func TestAdminEndsSessionsDisablesAndEnables(t *testing.T) {
	app := testapp.New(t)
	admin, adminUser := newAdmin(t, app)
	user, email, id := signedInUser(t, app)
	other := app.Login(t, email)

	r := admin.Get("/api/admin/users/" + id + "/sessions")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var list struct {
		Sessions []map[string]any `json:"sessions"`
	}
	r.Decode(t, &list)
	if len(list.Sessions) != 2 {
		t.Fatalf("the user's sessions: %s", r.Body)
	}
	for _, s := range list.Sessions {
		if _, has := s["current"]; has || s["id"] == "" || s["user_agent"] == nil {
			t.Fatalf("an admin's view of a session: %v", s)
		}
	}

	testapp.ExpectStatus(t, admin.Post("/api/admin/users/"+id+"/revoke-sessions", nil), http.StatusNoContent)
	for _, b := range []*testapp.Browser{user, other} {
		testapp.ExpectError(t, b.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
		testapp.ExpectError(t, b.Post("/api/auth/refresh", nil), http.StatusUnauthorized, "invalid_refresh_token")
	}
	testapp.ExpectStatus(t, admin.Get("/api/me"), http.StatusOK) // the admin's own session goes on

	user = app.Login(t, email)
	testapp.ExpectStatus(t, admin.Post("/api/admin/users/"+id+"/disable", nil), http.StatusNoContent)
	testapp.ExpectError(t, user.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	if u := userObject(t, admin.Get("/api/admin/users/"+id)); u["disabled"] != true {
		t.Fatalf("after disable: %v", u)
	}
	login := map[string]string{"email": email, "password": testapp.Password}
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/login", login), http.StatusForbidden, "account_disabled")
	grant := map[string]string{"grant_type": "password", "email": email, "password": testapp.Password}
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/token", grant), http.StatusForbidden, "account_disabled")
	// Only after the password check: a wrong password says nothing more.
	login["password"] = "not the password at all"
	testapp.ExpectError(t, app.NewBrowser(t).Post("/api/auth/login", login), http.StatusUnauthorized, "invalid_credentials")

	testapp.ExpectStatus(t, admin.Post("/api/admin/users/"+id+"/enable", nil), http.StatusNoContent)
	if u := userObject(t, admin.Get("/api/admin/users/"+id)); u["disabled"] != false {
		t.Fatalf("after enable: %v", u)
	}
	testapp.ExpectStatus(t, app.Login(t, email).Get("/api/me"), http.StatusOK)
	testapp.ExpectError(t, user.Get("/api/me"), http.StatusUnauthorized, "unauthenticated") // ended sessions stay ended

	// The audit log names both accounts; the user sees the actions in
	// their security events.
	var events []models.SecurityEvent
	if err := app.DB.Where("user_id = ? AND type LIKE ?", id, "admin_%").Order("id").Find(&events).Error; err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		if e.ActorID != adminUser.ID {
			t.Errorf("event %s: actor %q, want %q", e.Type, e.ActorID, adminUser.ID)
		}
		got = append(got, e.Type)
	}
	if strings.Join(got, " ") != "admin_sessions_revoked admin_user_disabled admin_user_enabled" {
		t.Fatalf("audit log: %v", got)
	}
	if body := string(app.Login(t, email).Get("/api/me/security-events").Body); !strings.Contains(body, "admin_user_disabled") || strings.Contains(body, adminUser.ID) {
		t.Fatalf("the user's security events: %s", body)
	}
}

func TestAdminChangesRoles(t *testing.T) {
	app := testapp.New(t)
	admin, adminUser := newAdmin(t, app)
	user, email, id := signedInUser(t, app)

	for _, tt := range []struct {
		body, code string
	}{
		{`{"role":"owner"}`, "invalid_role"},
		{`{"role":""}`, "missing_field"},
		{`{}`, "missing_field"},
		{`{"role":"admin","email":"x@example.com"}`, "invalid_json"}, // the one field an admin sets
		{`{"role":"admin","disabled":false}`, "invalid_json"},
	} {
		testapp.ExpectError(t, admin.Do(http.MethodPatch, "/api/admin/users/"+id, tt.body), http.StatusBadRequest, tt.code)
	}
	testapp.ExpectStatus(t, user.Get("/api/me"), http.StatusOK) // refused changes end nothing

	r := admin.Do(http.MethodPatch, "/api/admin/users/"+id, `{"role":"admin"}`)
	testapp.ExpectStatus(t, r, http.StatusOK)
	if u := userObject(t, r); u["role"] != "admin" || u["disabled"] != false || u["email"] != email {
		t.Fatalf("after the role change: %v", u)
	}
	// The token with the old role is refused at once; the next sign-in
	// carries the new one.
	testapp.ExpectError(t, user.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
	promoted := app.Login(t, email)
	if me := userObject(t, promoted.Get("/api/me")); me["role"] != "admin" {
		t.Fatalf("/api/me after promotion: %v", me)
	}
	testapp.ExpectStatus(t, promoted.Get("/api/admin/users"), http.StatusOK)

	// Setting the role an account has changes nothing, and ends nothing.
	testapp.ExpectStatus(t, admin.Do(http.MethodPatch, "/api/admin/users/"+id, `{"role":"admin"}`), http.StatusOK)
	testapp.ExpectStatus(t, promoted.Get("/api/me"), http.StatusOK)

	// Two administrators: one may demote the other, or disable them; the
	// last one left can be neither demoted nor disabled, even by itself.
	testapp.ExpectStatus(t, promoted.Do(http.MethodPatch, "/api/admin/users/"+adminUser.ID, `{"role":"user"}`), http.StatusOK)
	testapp.ExpectError(t, admin.Get("/api/admin/users"), http.StatusUnauthorized, "unauthenticated")
	testapp.ExpectError(t, promoted.Do(http.MethodPatch, "/api/admin/users/"+id, `{"role":"user"}`), http.StatusConflict, "last_admin")
	testapp.ExpectError(t, promoted.Post("/api/admin/users/"+id+"/disable", nil), http.StatusConflict, "last_admin")
	testapp.ExpectStatus(t, promoted.Get("/api/admin/users"), http.StatusOK) // still an admin, still signed in

	testapp.ExpectStatus(t, promoted.Do(http.MethodPatch, "/api/admin/users/"+adminUser.ID, `{"role":"admin"}`), http.StatusOK)
	testapp.ExpectStatus(t, promoted.Post("/api/admin/users/"+id+"/disable", nil), http.StatusNoContent) // by itself: another admin is left
	testapp.ExpectError(t, promoted.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
}

// Mass assignment: no public body can set a role. Every route that takes a
// body and reaches an account refuses one that carries "role" (unknown
// fields are refused), and the account stays a user.
func TestNoPublicRouteSetsARole(t *testing.T) {
	app := testapp.New(t)
	b, email, id := signedInUser(t, app)
	note := b.Post("/api/notes", map[string]string{"title": "mine"})
	testapp.ExpectStatus(t, note, http.StatusCreated)
	noteID := note.JSON(t)["note"].(map[string]any)["id"].(string)

	for _, tt := range []struct {
		method, path string
		body         map[string]any
	}{
		{http.MethodPost, "/api/auth/register", map[string]any{"email": testapp.UniqueEmail(), "password": testapp.Password}},
		{http.MethodPost, "/api/auth/verify-email", map[string]any{"token": "x"}},
		{http.MethodPost, "/api/auth/resend-verification", map[string]any{"email": email}},
		{http.MethodPost, "/api/auth/login", map[string]any{"email": email, "password": testapp.Password}},
		{http.MethodPost, "/api/auth/token", map[string]any{"grant_type": "password", "email": email, "password": testapp.Password}},
		{http.MethodPost, "/api/auth/forgot-password", map[string]any{"email": email}},
		{http.MethodPost, "/api/auth/reset-password", map[string]any{"token": "x", "password": "another long passphrase"}},
		{http.MethodPost, "/api/auth/change-password", map[string]any{"current_password": testapp.Password, "new_password": "another long passphrase"}},
		{http.MethodPost, "/api/notes", map[string]any{"title": "t"}},
		{http.MethodPatch, "/api/notes/" + noteID, map[string]any{"title": "t"}},
	} {
		for _, field := range []string{"role", "Role", "disabled", "token_version"} {
			body := map[string]any{field: "admin"}
			for k, v := range tt.body {
				body[k] = v
			}
			r := b.Do(tt.method, tt.path, body)
			testapp.ExpectError(t, r, http.StatusBadRequest, "invalid_json")
		}
	}
	if u, _ := app.Accounts.User(context.Background(), id); u.Role != models.RoleUser || u.DisabledAt != nil {
		t.Fatalf("the account after the attempts: role %q, disabled %v", u.Role, u.DisabledAt)
	}
	testapp.ExpectError(t, b.Get("/api/admin/users"), http.StatusForbidden, "forbidden")
}

// Two administrators demoting each other at once (PostgreSQL runs the two
// transactions side by side) leave one administrator, never none.
func TestParallelDemotionsKeepAnAdministrator(t *testing.T) {
	app := testapp.New(t)
	for range 5 {
		a, aUser := newAdmin(t, app)
		b, bUser := newAdmin(t, app)
		// Only these two are administrators.
		if err := app.DB.Model(&models.User{}).Where("role = ? AND id NOT IN ?", models.RoleAdmin, []string{aUser.ID, bUser.ID}).
			Update("role", models.RoleUser).Error; err != nil {
			t.Fatal(err)
		}
		statuses := make(chan int, 2)
		demote := func(by *testapp.Browser, id string) {
			statuses <- by.Do(http.MethodPatch, "/api/admin/users/"+id, `{"role":"user"}`).Status
		}
		go demote(a, bUser.ID)
		go demote(b, aUser.ID)
		got := []int{<-statuses, <-statuses}
		var admins int64
		if err := app.DB.Model(&models.User{}).Where("role = ?", models.RoleAdmin).Count(&admins).Error; err != nil {
			t.Fatal(err)
		}
		if admins != 1 || (got[0] == http.StatusOK) == (got[1] == http.StatusOK) {
			t.Fatalf("statuses %v left %d administrators; want one demotion and one administrator", got, admins)
		}
	}
}
