package server_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/authstarter/authstarter/auth"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/models"
	"github.com/chromedp/chromedp"
)

// The admin page (/admin), driven as an admin would:
//
//  1. the dashboard links to it; it lists every account a page at a time
//     ("More users");
//  2. a search finds Ada, who is signed in on a phone and with an API
//     client; her card lists both sessions;
//  3. "Revoke all sessions": her client gets 401 on /api/me, her phone
//     lands on the sign-in page;
//  4. "Disable": her sign-in gets 403 account_disabled (the phone's form
//     shows the server's message); "Enable": she signs in again;
//  5. the only admin cannot step down (the server's last_admin message);
//     "Make admin" makes Ada one, which ends her sessions, and her
//     dashboard then links to the admin page and lists what was done;
//  6. the page at a phone's width, by keyboard (as the other pages in
//     TestBrowserPagesAreAccessible); the admin ends their own sessions and
//     lands on the sign-in page.
//
// A user who is not an admin sees no link, and /admin shows the server's
// refusal and nothing else.
func TestBrowserAdmin(t *testing.T) {
	app := testapp.New(t)
	const adminEmail, target = "grace@example.com", "ada@example.com"
	create := func(email, name, role string) {
		t.Helper()
		reg := auth.Registration{Email: email, Password: testapp.Password, Name: name, Role: role}
		if _, err := app.Accounts.CreateVerified(context.Background(), reg); err != nil {
			t.Fatal(err)
		}
	}
	create(adminEmail, "Grace Hopper", models.RoleAdmin)
	create(target, "Ada Lovelace", models.RoleUser)
	for i := range 20 { // not userN@example.com: uniqueEmail's addresses, for other accounts of this test
		create(fmt.Sprintf("member%02d@example.com", i), "", models.RoleUser)
	}
	const accounts = 22

	// 1. From the dashboard to the admin page; all accounts, a page at a time.
	tab := dashboardTab(t, app, adminEmail)
	if !visible(t, tab, "#admin-link") {
		t.Fatal("an admin's dashboard does not link to the admin page")
	}
	click(t, tab, "#admin-link")
	waitPage(t, tab, "/admin", "")
	waitUntil(t, tab, `!document.getElementById("admin-panel").hidden && document.getElementById("users-card").getAttribute("aria-busy") === "false"`)
	waitUntil(t, tab, `document.querySelectorAll("#user-list li").length === 20 && !document.getElementById("users-more-foot").hidden`)
	click(t, tab, "#users-more")
	waitUntil(t, tab, fmt.Sprintf(`document.querySelectorAll("#user-list li").length === %d && document.getElementById("users-more-foot").hidden`, accounts))

	// 2. Ada signs in on a phone and with a client; the admin finds her.
	phoneTab := otherDevice(t, tab, phone)
	signInOn(t, app, phoneTab, target)
	client := app.Login(t, target)
	testapp.ExpectStatus(t, client.Get("/api/me"), http.StatusOK)

	waitUntil(t, tab, `!document.querySelector("#user-search fieldset").disabled`)
	search(t, tab, "ada", target)
	waitText(t, tab, "user-list", "Ada Lovelace")
	click(t, tab, "#user-list li button")
	waitUserCard(t, tab, target)
	waitUntil(t, tab, `document.querySelectorAll("#user-session-list li").length === 2`)
	waitText(t, tab, "user-session-list", "Safari on iPhone")
	waitText(t, tab, "user-state", "Active")
	readmeScreenshot(t, tab, desktop, "admin")

	// 3. Revoke all her sessions: the client's access token dies at once,
	// and the phone's next action finds its session over.
	click(t, tab, "#user-revoke")
	waitText(t, tab, "user-status", "Every session of "+target+" has ended.")
	waitUserCard(t, tab, target)
	waitUntil(t, tab, `document.querySelectorAll("#user-session-list li").length === 0 && !document.getElementById("user-no-sessions").hidden`)
	testapp.ExpectStatus(t, client.Get("/api/me"), http.StatusUnauthorized)
	click(t, phoneTab, "#reload")
	waitPage(t, phoneTab, "/login", "Your session has ended. Please sign in again.")

	// 4. Disable: her password is right, and she still cannot sign in; the
	// form says what the server says. Enable: she can again.
	click(t, tab, "#user-disable")
	waitText(t, tab, "user-status", target+" is disabled")
	waitText(t, tab, "user-state", "Disabled")
	waitText(t, tab, "user-list", "Disabled")
	waitText(t, tab, "user-disable", "Enable")
	refused := app.NewBrowser(t).Post("/api/auth/login", map[string]string{"email": target, "password": testapp.Password})
	testapp.ExpectError(t, refused, http.StatusForbidden, "account_disabled")
	fillAndSubmit(t, phoneTab, "login-form", "login-email", target, "login-password", testapp.Password)
	waitText(t, phoneTab, "status", errorMessage(t, refused))

	click(t, tab, "#user-disable")
	waitText(t, tab, "user-status", target+" is enabled again")
	waitText(t, tab, "user-state", "Active")
	waitText(t, tab, "user-disable", "Disable")
	if evaluate[bool](t, tab, `document.getElementById("user-list").textContent.includes("Disabled")`) {
		t.Fatal("the list still shows Ada disabled")
	}
	signInOn(t, app, phoneTab, target)
	if visible(t, phoneTab, "#admin-link") {
		t.Fatal("the dashboard of a user who is not an admin links to the admin page")
	}

	// 5. The one admin cannot step down: the card shows the server's reason.
	search(t, tab, "grace", adminEmail)
	click(t, tab, "#user-list li button")
	waitUserCard(t, tab, adminEmail)
	if !visible(t, tab, "#user-self") {
		t.Fatal("the admin's own card does not warn that acting on it signs them out")
	}
	click(t, tab, "#user-role-change")
	lastAdmin := app.Login(t, adminEmail).Do(http.MethodPatch, "/api/admin/users/"+userID(t, app, adminEmail), map[string]string{"role": models.RoleUser})
	testapp.ExpectError(t, lastAdmin, http.StatusConflict, "last_admin")
	waitText(t, tab, "user-status", errorMessage(t, lastAdmin))
	waitText(t, tab, "user-role", "Admin")

	// Ada becomes an admin: her sessions end, and signed in again, her
	// dashboard links to the admin page.
	search(t, tab, "ada", target)
	click(t, tab, "#user-list li button")
	waitUserCard(t, tab, target)
	click(t, tab, "#user-role-change")
	waitText(t, tab, "user-status", target+" is now an admin")
	waitText(t, tab, "user-role", "Admin")
	waitText(t, tab, "user-list", "Admin")
	waitText(t, tab, "user-role-change", "Make user")
	waitUntil(t, tab, `document.getElementById("user-card").getAttribute("aria-busy") === "false" && document.querySelectorAll("#user-session-list li").length === 0`)
	click(t, phoneTab, "#reload")
	waitPage(t, phoneTab, "/login", "Your session has ended")
	signInOn(t, app, phoneTab, target)
	if !visible(t, phoneTab, "#admin-link") {
		t.Fatal("Ada, now an admin, gets no link to the admin page")
	}
	// Her dashboard tells her what was done to her account (not by whom).
	for _, event := range []string{"Role changed by an administrator (now admin)", "Account enabled again by an administrator",
		"Account disabled by an administrator", "Failed sign-in attempt (account disabled)", "Every session ended by an administrator"} {
		waitText(t, phoneTab, "event-list", event)
	}
	var me struct{ User struct{ Role string } }
	app.Login(t, target).Get("/api/me").Decode(t, &me)
	if me.User.Role != models.RoleAdmin {
		t.Fatalf("Ada's role is %q after Make admin, want admin", me.User.Role)
	}

	// 6. The page on a phone, with the keyboard.
	browse(t, tab, chromedp.Emulate(phone))
	checkPageAccessible(t, tab, "/admin")
	browse(t, tab, chromedp.Emulate(desktop))

	// The admin ends their own sessions: the page goes to the sign-in page,
	// as for any session that ends.
	search(t, tab, "grace", adminEmail)
	click(t, tab, "#user-list li button")
	waitUserCard(t, tab, adminEmail)
	click(t, tab, "#user-revoke")
	waitPage(t, tab, "/login", "Your session has ended")

	// A user who is not an admin: no link, and /admin shows the server's
	// refusal, without the search or any account.
	b, plain := app.SignedIn(t)
	forbidden := b.Get("/api/admin/users")
	testapp.ExpectError(t, forbidden, http.StatusForbidden, "forbidden")
	userTab := dashboardTab(t, app, plain)
	if visible(t, userTab, "#admin-link") {
		t.Fatal("the dashboard of a user who is not an admin links to the admin page")
	}
	browse(t, userTab, chromedp.Navigate(app.URL+"/admin"))
	waitPage(t, userTab, "/admin", errorMessage(t, forbidden))
	waitText(t, userTab, "who", "Signed in as "+plain)
	if visible(t, userTab, "#admin-panel") || evaluate[int](t, userTab, `document.querySelectorAll("#user-list li").length`) != 0 {
		t.Fatal("/admin shows the admin panel to a user who is not an admin")
	}
}

// signInOn signs email in through the sign-in form of tab and waits for the
// dashboard.
func signInOn(t *testing.T, app *testapp.App, tab context.Context, email string) {
	t.Helper()
	browse(t, tab, chromedp.Navigate(app.URL+"/login"))
	fillAndSubmit(t, tab, "login-form", "login-email", email, "login-password", testapp.Password)
	waitReloaded(t, tab)
}

// search searches the admin page's accounts for query, and waits until the
// list shows one account: email's. (The list of the last search may have
// had one item too: waiting for the number alone would click a button that
// is about to go.)
func search(t *testing.T, tab context.Context, query, email string) {
	t.Helper()
	fillAndSubmit(t, tab, "user-search", "user-query", query)
	waitUntil(t, tab, fmt.Sprintf(`document.getElementById("users-card").getAttribute("aria-busy") === "false"
		&& document.querySelectorAll("#user-list li").length === 1
		&& document.querySelector("#user-list li [data-field=email]").textContent === %q`, email))
}

// waitUserCard waits until the admin page's user card shows email, with its
// sessions loaded.
func waitUserCard(t *testing.T, tab context.Context, email string) {
	t.Helper()
	waitUntil(t, tab, fmt.Sprintf(`!document.getElementById("user-card").hidden
		&& document.getElementById("user-title").textContent === %q
		&& document.getElementById("user-card").getAttribute("aria-busy") === "false"`, email))
}

// errorMessage is the message of an error answer.
func errorMessage(t *testing.T, r testapp.Response) string {
	t.Helper()
	var env struct{ Error struct{ Message string } }
	r.Decode(t, &env)
	if env.Error.Message == "" {
		t.Fatalf("status %d without an error message: %s", r.Status, r.Body)
	}
	return env.Error.Message
}

// userID is the id of the account of email.
func userID(t *testing.T, app *testapp.App, email string) string {
	t.Helper()
	var user models.User
	if err := app.DB.Take(&user, "email = ?", email).Error; err != nil {
		t.Fatal(err)
	}
	return user.ID
}
