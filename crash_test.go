package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/smtptest"
	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/authstarter/authstarter/internal/testkit/testdb"
	"github.com/authstarter/authstarter/mail"
)

// TestCrashLosesNothingAcknowledged checks the contract's first convention
// the hard way: the real binary under parallel load is killed with SIGKILL
// while requests are in flight, then started again on the same database.
//
//   - Every registration answered 202 exists after the restart: with
//     REQUIRE_EMAIL_VERIFICATION=false it can log in; with =true its
//     verification mail arrives and its link signs in.
//   - Every acknowledged forgot-password gets its reset mail (and its link
//     works), every acknowledged registration of a taken address gets its
//     notice to the owner, every acknowledged resend-verification leaves the
//     address with a working verification link.
//   - Every mail goes out exactly once. A copy sent again after the crash
//     (the kill landing between the SMTP server's acceptance and the mark
//     "sent") carries the same Message-ID and counts once; two Message-IDs
//     for one recipient and subject are a duplicate. Exact, because the
//     server sends at most one mail of each kind that anyone can trigger to
//     an address per minute, and each scenario lasts less than a minute.
//
// Requests that got no answer (in flight at the kill) promise nothing and
// are ignored.
func TestCrashLosesNothingAcknowledged(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "authstarter")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, verify := range []bool{false, true} {
		t.Run("REQUIRE_EMAIL_VERIFICATION="+strconv.FormatBool(verify), func(t *testing.T) {
			t.Parallel() // each has its own server, database and SMTP server
			crashScenario(t, bin, verify)
		})
	}
}

const (
	crashSubjectVerification = "Confirm your email address"
	crashSubjectReset        = "Reset your password"
	crashSubjectNotice       = "Someone tried to create an account with your email address"

	crashLoadWorkers = 16
	crashMaxRequests = 1500
	// A mail that the killed process had leased is sent again when its lease
	// runs out (claimTimeout, 20 s, in mail/outbox.go): the mail is watched this long after
	// the kill, so that a second copy of anything is seen.
	crashRedeliveryHorizon = 25 * time.Second
	crashMailDeadline      = 30 * time.Second // after the restart
)

// crashRequest is one request of the load and what came of it.
type crashRequest struct {
	kind     string // register (new address), taken, forgot, resend
	email    string
	password string
	sent     bool
	status   int // 0: no answer
	err      error
}

func (r *crashRequest) acked() bool { return r.status >= 200 && r.status < 300 }

func crashScenario(t *testing.T, bin string, verify bool) {
	began := time.Now()
	mode := "off"
	if verify {
		mode = "on"
	}
	dir := t.TempDir()
	smtp := smtptest.Start(t, smtptest.Options{Mode: mail.TLSNone})
	port := testapp.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"APP_ENV=development",
		"PORT=" + strconv.Itoa(port),
		"APP_URL=" + base,
		"DATABASE_URL=" + testdb.URL(t), // a file in dir, or a PostgreSQL schema
		"SMTP_HOST=127.0.0.1",
		"SMTP_PORT=" + strconv.Itoa(smtp.Port()),
		"SMTP_TLS=none",
		"ARGON2_MEMORY_KIB=64",
		"ARGON2_ITERATIONS=1",
		"AUTH_RATE_LIMIT_MAX=1000000",
		"REQUIRE_EMAIL_VERIFICATION=" + strconv.FormatBool(verify),
	}
	var out1, out2 testapp.SyncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output, first run (killed):\n%s", tail(&out1, 8000))
			t.Logf("server output, second run:\n%s", tail(&out2, 8000))
		}
	})

	// Setup: accounts that the load asks a reset link for, registers again
	// (the owner gets a notice), and, with verification on, asks a new
	// verification link for. One request per address: a second mail of a
	// kind within a minute would be suppressed.
	client := crashClient()
	first := startCrashChild(t, bin, dir, env, base, &out1)
	pw := func(email string) string { return "pw-" + strings.ReplaceAll(email, "@", "-at-") }
	pool := func(prefix string, n int) []string {
		var emails []string
		for i := range n {
			emails = append(emails, fmt.Sprintf("%s-%s-%d@example.com", prefix, mode, i))
		}
		return emails
	}
	forgotPool, takenPool := pool("forgot", 32), pool("taken", 24)
	var resendPool []string
	if verify {
		resendPool = pool("resend", 24)
	}
	setup := slices.Concat(forgotPool, takenPool, resendPool)
	crashParallel(8, setup, func(email string) error {
		status, body, err := crashPost(client, base, "/api/auth/register", map[string]string{"email": email, "password": pw(email)})
		if err != nil || status != http.StatusAccepted {
			return fmt.Errorf("setup register %s: %d %s %v", email, status, body, err)
		}
		return nil
	}, t.Fatalf)
	if verify {
		// Every setup address has its verification mail before the load, so
		// that the mail a resend asks for is exactly determined (suppressed:
		// one of its kind went out less than a minute ago; its link still
		// works). The pools for reset and notice are verified.
		links := crashWaitLinks(t, smtp, setup, crashSubjectVerification, 15*time.Second)
		crashParallel(8, slices.Concat(forgotPool, takenPool), func(email string) error {
			status, body, err := crashPost(client, base, "/api/auth/verify-email", map[string]string{"token": crashToken(links[email])})
			if err != nil || status != http.StatusOK {
				return fmt.Errorf("setup verify-email %s (link %s): %d %s %v", email, links[email], status, body, err)
			}
			return nil
		}, t.Fatalf)
	}

	// The load: specials spread among the first requests, new registrations
	// throughout, until the kill.
	var specials []crashRequest
	for _, e := range takenPool {
		specials = append(specials, crashRequest{kind: "taken", email: e, password: "other-" + pw(e)})
	}
	for _, e := range forgotPool {
		specials = append(specials, crashRequest{kind: "forgot", email: e})
	}
	for _, e := range resendPool {
		specials = append(specials, crashRequest{kind: "resend", email: e})
	}
	reqs := make([]crashRequest, crashMaxRequests)
	for i := range reqs {
		e := fmt.Sprintf("new-%s-%d@example.com", mode, i)
		reqs[i] = crashRequest{kind: "register", email: e, password: pw(e)}
	}
	head := 3 * len(specials) // the specials take random places among the first head requests
	for i, j := range rand.Perm(head)[:len(specials)] {
		reqs[j] = specials[i]
	}

	var next, inFlight atomic.Int64
	var stop atomic.Bool
	var load sync.WaitGroup
	loadBegan := time.Now()
	for range crashLoadWorkers {
		load.Go(func() {
			for !stop.Load() {
				i := next.Add(1) - 1
				if i >= int64(len(reqs)) {
					return
				}
				r := &reqs[i]
				r.sent = true
				inFlight.Add(1)
				r.status, r.err = crashSend(client, base, r)
				inFlight.Add(-1)
				time.Sleep(rand.N(15 * time.Millisecond)) // spreads the load over the whole second
			}
		})
	}
	time.Sleep(500*time.Millisecond + rand.N(500*time.Millisecond))
	flying := inFlight.Load()
	first.kill()
	killedAt := time.Now()
	stop.Store(true)
	load.Wait()
	if flying == 0 {
		t.Logf("warning: no request was in flight at the kill (the load ran out first: %d requests)", len(reqs))
	}
	beforeRestart := len(smtp.Messages())

	// The restart, on the same data folder and database.
	client.CloseIdleConnections()
	client = crashClient()
	startCrashChild(t, bin, dir, env, base, &out2)
	restartedAt := time.Now()

	// What the acknowledged requests promise.
	type key struct{ to, subject string }
	expected := map[key]bool{}
	counts := map[string][2]int{} // kind: sent, acknowledged
	unanswered := 0
	for i := range reqs {
		r := &reqs[i]
		if !r.sent {
			continue
		}
		c := counts[r.kind]
		c[0]++
		if !r.acked() {
			if r.status == 0 {
				unanswered++
			}
			counts[r.kind] = c
			continue
		}
		c[1]++
		counts[r.kind] = c
		switch {
		case r.kind == "register" && verify, r.kind == "resend":
			expected[key{r.email, crashSubjectVerification}] = true
		case r.kind == "forgot":
			expected[key{r.email, crashSubjectReset}] = true
		case r.kind == "taken":
			expected[key{r.email, crashSubjectNotice}] = true
		}
	}
	for _, kind := range []string{"register", "taken", "forgot", "resend"} {
		if c, ok := counts[kind]; ok && c[1] == 0 {
			t.Logf("warning: no %s request was acknowledged before the kill (%d sent): that kind is not checked", kind, c[0])
		}
	}

	// Wait for the promised mail, then keep watching until the killed
	// process's leases have run out and the inbox is quiet, to see any
	// second copy.
	missing := func(msgs []smtptest.Received) []key {
		have := map[key]bool{}
		for _, m := range msgs {
			for _, to := range m.To {
				have[key{strings.ToLower(to), m.Subject}] = true
			}
		}
		var out []key
		for k := range expected {
			if !have[k] {
				out = append(out, k)
			}
		}
		return out
	}
	lastCount, lastChange := -1, time.Now()
	var complete time.Duration // after the restart, when the last promised mail arrived
	for {
		msgs := smtp.Messages()
		now := time.Now()
		if len(msgs) != lastCount {
			lastCount, lastChange = len(msgs), now
		}
		absent := missing(msgs)
		if len(absent) == 0 && complete == 0 {
			complete = max(now.Sub(restartedAt), time.Millisecond)
		}
		if len(absent) == 0 && now.Sub(killedAt) >= crashRedeliveryHorizon && now.Sub(lastChange) >= time.Second {
			break
		}
		if now.Sub(restartedAt) > crashMailDeadline {
			if len(absent) > 0 {
				slices.SortFunc(absent, func(a, b key) int { return strings.Compare(a.subject+a.to, b.subject+b.to) })
				perSubject := map[string]int{}
				for _, k := range absent {
					perSubject[k.subject]++
				}
				var lines []string
				for _, k := range absent[:min(len(absent), 15)] {
					lines = append(lines, fmt.Sprintf("  %s: %q", k.to, k.subject))
				}
				t.Errorf("%d of %d promised mails never arrived within %v of the restart (by subject: %v); first:\n%s",
					len(absent), len(expected), crashMailDeadline, perSubject, strings.Join(lines, "\n"))
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Exactly once: copies grouped by Message-ID; one Message-ID per
	// recipient and subject.
	type copyOf struct {
		id, to, subject, link string
		afterKill             bool
	}
	msgs := smtp.Messages()
	byID := map[string][]copyOf{}
	var ids []string
	for i, m := range msgs {
		id := strings.TrimSpace(m.Header.Get("Message-Id"))
		if id == "" {
			id = fmt.Sprintf("(no Message-ID, message %d)", i)
		}
		to := strings.ToLower(strings.Join(m.To, ","))
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
		byID[id] = append(byID[id], copyOf{id: id, to: to, subject: m.Subject, link: crashLink(m.Text), afterKill: i >= beforeRestart})
	}
	redeliveries := 0
	perRecipient := map[key][]copyOf{}
	for _, id := range ids {
		copies := byID[id]
		redeliveries += len(copies) - 1
		for _, c := range copies[1:] {
			if c.to != copies[0].to || c.subject != copies[0].subject || c.link != copies[0].link {
				t.Errorf("two messages with Message-ID %s differ: %s %q %s / %s %q %s",
					id, copies[0].to, copies[0].subject, copies[0].link, c.to, c.subject, c.link)
			}
		}
		perRecipient[key{copies[0].to, copies[0].subject}] = append(perRecipient[key{copies[0].to, copies[0].subject}], copies[0])
	}
	duplicates := 0
	for k, distinct := range perRecipient {
		switch k.subject {
		case crashSubjectVerification, crashSubjectReset, crashSubjectNotice:
		default:
			continue // not limited to one a minute
		}
		if len(distinct) > 1 {
			duplicates++
			if duplicates <= 10 {
				var desc []string
				for _, c := range distinct {
					when := "before the kill"
					if c.afterKill {
						when = "after the restart"
					}
					desc = append(desc, fmt.Sprintf("%s (%s)", c.id, when))
				}
				t.Errorf("duplicate mail: %s got %q %d times under different Message-IDs: %s",
					k.to, k.subject, len(distinct), strings.Join(desc, ", "))
			}
		}
	}
	if duplicates > 10 {
		t.Errorf("... %d duplicated (recipient, subject) pairs in all", duplicates)
	}

	// The promises hold on the restarted server: accounts exist, links work.
	link := func(email, subject string) string {
		for _, c := range perRecipient[key{email, subject}] {
			if c.link != "" {
				return c.link
			}
		}
		return ""
	}
	var checks []func() error
	for i := range reqs {
		r := &reqs[i]
		if !r.acked() {
			continue
		}
		switch {
		case r.kind == "register" && !verify:
			checks = append(checks, func() error {
				return crashExpect(client, base, "/api/auth/login", map[string]string{"email": r.email, "password": r.password},
					http.StatusOK, "registration of "+r.email+" answered 202, then login")
			})
		case r.kind == "register" || r.kind == "resend":
			if l := link(r.email, crashSubjectVerification); l != "" {
				checks = append(checks, func() error {
					return crashExpect(client, base, "/api/auth/verify-email", map[string]string{"token": crashToken(l)},
						http.StatusOK, r.kind+" of "+r.email+" answered 202, then its verification link "+l)
				})
			}
		case r.kind == "forgot":
			if l := link(r.email, crashSubjectReset); l != "" {
				checks = append(checks, func() error {
					return crashExpect(client, base, "/api/auth/reset-password", map[string]string{"token": crashToken(l), "password": "new-" + pw(r.email)},
						http.StatusOK, "forgot-password of "+r.email+" answered 202, then its reset link "+l)
				})
			}
		}
	}
	var failed []string
	var failedMu sync.Mutex
	crashParallel(8, checks, func(check func() error) error {
		if err := check(); err != nil {
			failedMu.Lock()
			failed = append(failed, err.Error())
			failedMu.Unlock()
		}
		return nil
	}, t.Fatalf)
	if len(failed) > 0 {
		slices.Sort(failed)
		t.Errorf("%d of %d acknowledged requests do not hold after the crash; first:\n  %s",
			len(failed), len(checks), strings.Join(failed[:min(len(failed), 15)], "\n  "))
	}

	t.Logf("load: sent/acknowledged %v, %d in flight at the kill (%v after the load began), %d unanswered; "+
		"mail: %d promised, %d received before the restart, %d after (all promised ones %v after the restart), "+
		"%d same-Message-ID redeliveries, %d duplicates; scenario took %v",
		counts, flying, killedAt.Sub(loadBegan).Round(time.Millisecond), unanswered,
		len(expected), beforeRestart, len(msgs)-beforeRestart, complete.Round(time.Millisecond),
		redeliveries, duplicates, time.Since(began).Round(time.Millisecond))
	if time.Since(began) > 55*time.Second {
		t.Logf("warning: the scenario took over 55 s; the one-mail-a-minute rule that makes the duplicate check exact may not cover it all")
	}
}

// crashSend makes one request of the load.
func crashSend(client *http.Client, base string, r *crashRequest) (int, error) {
	var path string
	var body map[string]string
	switch r.kind {
	case "register", "taken":
		path, body = "/api/auth/register", map[string]string{"email": r.email, "password": r.password}
	case "forgot":
		path, body = "/api/auth/forgot-password", map[string]string{"email": r.email}
	case "resend":
		path, body = "/api/auth/resend-verification", map[string]string{"email": r.email}
	}
	status, _, err := crashPost(client, base, path, body)
	return status, err
}

// crashPost posts JSON. A status line that arrived is an answer, even if
// the body was cut short by the kill.
func crashPost(client *http.Client, base, path string, body any) (int, []byte, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, answer, err
}

// crashExpect posts and checks the status; a 503 (server busy, hashing
// slots taken by the other checks) is retried.
func crashExpect(client *http.Client, base, path string, body any, want int, what string) error {
	for attempt := 0; ; attempt++ {
		status, answer, err := crashPost(client, base, path, body)
		if status == http.StatusServiceUnavailable && attempt < 10 {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if err != nil || status != want {
			return fmt.Errorf("%s: %s got %d %s %v, want %d", what, path, status, bytes.TrimSpace(answer), err, want)
		}
		return nil
	}
}

func crashClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // 127.0.0.1 only
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
		},
	}
}

// crashParallel runs do for each item on n goroutines; the first error
// is passed to fatal from the calling goroutine.
func crashParallel[T any](n int, items []T, do func(T) error, fatal func(string, ...any)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	work := make(chan T)
	for range n {
		wg.Go(func() {
			for item := range work {
				if err := do(item); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, item := range items {
		work <- item
	}
	close(work)
	wg.Wait()
	if first != nil {
		fatal("%v", first)
	}
}

var crashLinkPattern = regexp.MustCompile(`https?://\S+[?#&]token=[A-Za-z0-9_\-.~%]+`)

// crashLink is the first link with a token in a mail's text, or "".
func crashLink(text string) string { return crashLinkPattern.FindString(text) }

// crashToken is a link's token= value (fragment or query).
func crashToken(link string) string {
	i := strings.LastIndex(link, "token=")
	token, _, _ := strings.Cut(link[i+len("token="):], "&")
	return token
}

// crashWaitLinks waits for a mail with subject to each address and returns
// each one's link.
func crashWaitLinks(t *testing.T, smtp *smtptest.Server, emails []string, subject string, timeout time.Duration) map[string]string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		links := map[string]string{}
		for _, m := range smtp.Messages() {
			if m.Subject == subject && len(m.To) == 1 {
				if l := crashLink(m.Text); l != "" {
					links[strings.ToLower(m.To[0])] = l
				}
			}
		}
		var absent []string
		for _, e := range emails {
			if links[e] == "" {
				absent = append(absent, e)
			}
		}
		if len(absent) == 0 {
			return links
		}
		if time.Now().After(deadline) {
			t.Fatalf("setup: no %q mail with a link to %d addresses within %v: %v", subject, len(absent), timeout, absent)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// crashChild is the server binary running as a child process.
type crashChild struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
}

// startCrashChild starts the binary in dir and waits until /healthz answers.
// The child is killed when the test ends, if it is still running.
func startCrashChild(t *testing.T, bin, dir string, env []string, base string, out io.Writer) *crashChild {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the server: %v", err)
	}
	c := &crashChild{cmd: cmd, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(c.kill)
	client := crashClient()
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-c.exited:
			t.Fatalf("the server exited before answering /healthz: %v", c.err)
		default:
		}
		if res, err := client.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not answer /healthz within 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL (nothing runs in the child after it) and waits for
// the process to be gone.
func (c *crashChild) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// tail returns the last n bytes of a child's output.
func tail(out *testapp.SyncBuffer, n int) string {
	s := out.String()
	if len(s) > n {
		return "...\n" + s[len(s)-n:]
	}
	return s
}
