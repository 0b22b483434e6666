package attacks_test

// Cross-site request forgery: a page on another site makes the victim's
// browser send state-changing requests, with the victim's cookies, to any
// route of the app. The
// defences are middleware.SameOrigin (a foreign Origin, Origin: null or
// Sec-Fetch-Site cross-site/same-site → 403 cross_origin_request) and
// middleware.JSONOnly (a form, text/plain or multipart body — what a page
// can send without a CORS preflight — → 415). Every refused request must
// leave everything as it was: no cookie set or cleared, no session started
// or ended, no mail, no token spent, no password changed.

import (
	"maps"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// Every state-changing route (read from the app: the ones added later
// included), sent cross-site with the victim's cookies, is refused and
// changes nothing (defence: SameOrigin, then JSONOnly).
func TestCrossSiteRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	tg := newTarget(t)
	victim, email := tg.signedIn(t)
	var note struct {
		Note struct{ ID, Title string } `json:"note"`
	}
	victim.Post("/api/notes", map[string]string{"title": "mine"}).Decode(t, &note)
	bystander := tg.client(t)
	_, otherEmail := tg.signedIn(t) // receives the forged forgot-password

	// Work in progress an attacker would like to spend or trigger: a
	// pending verification link and a pending reset link.
	unverified := testapp.UniqueEmail()
	testapp.ExpectStatus(t, bystander.Post("/api/auth/register", map[string]string{"email": unverified, "password": password}), http.StatusAccepted)
	verifyToken := tg.Mail.LastToken(t, unverified)
	testapp.ExpectStatus(t, bystander.Post("/api/auth/forgot-password", map[string]string{"email": email}), http.StatusAccepted)
	resetToken := tg.Mail.NextToken(t, email, 1) // after the verification mail
	// Past the one-mail-a-minute limit, so a forged mail request would be
	// sent and seen.
	tg.Clock.Advance(2 * time.Minute)
	tg.WaitSettled(t)
	mailBefore := tg.Mail.Count()

	sessionsBefore := sessionIDs(t, victim)
	if len(sessionsBefore) != 1 {
		t.Fatalf("victim has %d sessions, want 1", len(sessionsBefore))
	}
	accessBefore, refreshBefore := victim.Cookie("/", accessCookie), victim.Cookie("/api/auth/refresh", "refresh_token")
	newPassword := "a brand new passphrase"

	// The bodies that would act, were the request accepted; a route not
	// listed is sent without a body. Path parameters name the victim's own
	// session and note (any other, an id that names nothing).
	acting := map[string]any{
		"POST /api/auth/register":            map[string]string{"email": testapp.UniqueEmail(), "password": password},
		"POST /api/auth/verify-email":        map[string]string{"token": verifyToken},
		"POST /api/auth/resend-verification": map[string]string{"email": unverified},
		"POST /api/auth/login":               map[string]string{"email": email, "password": password},
		"POST /api/auth/token":               map[string]string{"grant_type": "password", "email": email, "password": password},
		"POST /api/auth/forgot-password":     map[string]string{"email": otherEmail},
		"POST /api/auth/reset-password":      map[string]string{"token": resetToken, "password": newPassword},
		"POST /api/auth/change-password":     map[string]string{"current_password": password, "new_password": newPassword},
		"POST /api/notes":                    map[string]string{"title": "forged"},
		"PATCH /api/notes/:id":               map[string]string{"title": "forged"},
	}
	victims := map[string]string{"/api/auth/sessions/:id": sessionsBefore[0], "/api/notes/:id": note.Note.ID}
	allRoutes := apiRoutes(t, tg)
	expectRoutes(t, allRoutes, "acting", maps.Keys(acting))
	crossSite := []struct {
		name    string
		headers []string
	}{
		{"foreign Origin", []string{"Origin", "https://evil.example"}},
		{"Origin null", []string{"Origin", "null"}}, // sandboxed iframes, data: URLs
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site"}},
		{"Sec-Fetch-Site same-site", []string{"Sec-Fetch-Site", "same-site"}}, // a sibling subdomain
		{"own Origin but cross-site fetch", []string{"Origin", tg.URL, "Sec-Fetch-Site", "cross-site"}},
	}
	// Bodies a cross-site page can send without a preflight. They carry
	// the route's JSON, so a server that parsed them regardless would act.
	// Sent without Origin: JSONOnly must hold on its own.
	simpleBodies := []struct {
		contentType string
		wrap        func(json string) string
	}{
		{"application/x-www-form-urlencoded", func(json string) string { return json }},
		{"application/x-www-form-urlencoded;charset=UTF-8", func(json string) string { return "data=" + url.QueryEscape(json) }},
		{"text/plain", func(json string) string { return json }},
		{"text/plain;charset=UTF-8", func(json string) string { return json }},
		{"multipart/form-data; boundary=xyz", func(json string) string {
			return "--xyz\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n" + json + "\r\n--xyz--\r\n"
		}},
	}

	stillIntact := func(t *testing.T, r response) {
		t.Helper()
		if set := r.Header.Values("Set-Cookie"); len(set) > 0 {
			t.Errorf("a refused request set cookies: %q", set)
		}
		testapp.ExpectStatus(t, tg.on(t, victim).Get("/api/me"), http.StatusOK)
	}

	for _, route := range allRoutes {
		if !testapp.StateChanging(route) {
			continue
		}
		name := testapp.RouteName(route)
		id, ok := victims[route.Path]
		if !ok {
			id = testapp.UnknownID
		}
		path, body := testapp.FillParams(route.Path, url.PathEscape(id)), acting[name]
		for _, cs := range crossSite {
			t.Run(name+"/"+cs.name, func(t *testing.T) {
				r := tg.on(t, victim).Do(route.Method, path, body, cs.headers...)
				expectRefused(t, r, http.StatusForbidden, "cross_origin_request")
				stillIntact(t, r)
			})
		}
		for _, sb := range simpleBodies {
			t.Run(name+"/"+sb.contentType, func(t *testing.T) {
				raw := `{}`
				if body != nil {
					raw = string(mustJSON(t, body))
				}
				r := tg.on(t, victim).Send(route.Method, path, sb.wrap(raw), "Content-Type", sb.contentType)
				expectRefused(t, r, http.StatusUnsupportedMediaType, "unsupported_media_type")
				stillIntact(t, r)
			})
		}
	}

	// Nothing changed.
	if a, r := victim.Cookie("/", accessCookie), victim.Cookie("/api/auth/refresh", "refresh_token"); a != accessBefore || r != refreshBefore {
		t.Error("the victim's cookies changed")
	}
	if got := sessionIDs(t, victim); len(got) != 1 || got[0] != sessionsBefore[0] {
		t.Errorf("the victim's sessions changed: %v, want %v", got, sessionsBefore)
	}
	var notes struct {
		Notes []struct{ ID, Title string } `json:"notes"`
	}
	victim.Get("/api/notes").Decode(t, &notes)
	if len(notes.Notes) != 1 || notes.Notes[0] != note.Note {
		t.Errorf("the victim's notes changed: %+v, want only %+v", notes.Notes, note.Note)
	}
	tg.WaitSettled(t)
	if n := tg.Mail.Count(); n != mailBefore {
		t.Errorf("%d mail(s) sent by refused requests", n-mailBefore)
	}
	testapp.ExpectStatus(t, tg.client(t).Post("/api/auth/login", map[string]string{"email": email, "password": password}), http.StatusOK)
	testapp.ExpectStatus(t, victim.Post("/api/auth/refresh", nil), http.StatusOK)
	// The links are still unspent (the reset last: it ends every session).
	testapp.ExpectStatus(t, tg.client(t).Post("/api/auth/verify-email", map[string]string{"token": verifyToken}), http.StatusOK)
	testapp.ExpectStatus(t, tg.client(t).Post("/api/auth/reset-password", map[string]string{"token": resetToken, "password": newPassword}), http.StatusOK)

	// Control: the same requests from the app's own origin do act.
	b, _ := tg.signedIn(t)
	testapp.ExpectStatus(t, b.Post("/api/auth/logout-all", nil, "Origin", tg.URL, "Sec-Fetch-Site", "same-origin"), http.StatusNoContent)
	expectRefused(t, b.Get("/api/me"), http.StatusUnauthorized, "unauthenticated")
}

// sessionIDs lists the ids of b's user's live sessions.
func sessionIDs(t *testing.T, b *testapp.Browser) []string {
	t.Helper()
	r := b.Get("/api/auth/sessions")
	testapp.ExpectStatus(t, r, http.StatusOK)
	var body struct {
		Sessions []struct{ ID string }
	}
	r.Decode(t, &body)
	var ids []string
	for _, s := range body.Sessions {
		ids = append(ids, s.ID)
	}
	return ids
}
