package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/testkit/testdb"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
	"github.com/pquerna/otp/totp"
)

// cliEnv is the environment of the command-line tests: development, a
// cheap argon2, the test's database, nothing inherited but PATH.
func cliEnv(t *testing.T, port int) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"APP_ENV=development", "PORT=" + strconv.Itoa(port),
		"DATABASE_URL=" + testdb.URL(t),
		"ARGON2_MEMORY_KIB=64", "ARGON2_ITERATIONS=1",
	}
}

// runCLI runs the real binary with args in dir and returns its exit
// status and what it printed.
func runCLI(t *testing.T, bin, dir string, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// The command-line tasks, run as the real binary: create an account from
// standard input and sign in with it on the server; end its sessions from
// the command line while the server runs; migrate; check the
// configuration; and a one-line reason with a non-zero status for each
// failure.
func TestCommandLineTasks(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "authstarter")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	port := testapp.FreePort(t)
	env := cliEnv(t, port)
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, bin, dir, env, stdin, args...)
	}

	code, out, _ := run("", "help")
	for _, name := range []string{"create-user", "set-role", "revoke-sessions", "disable-mfa", "migrate", "check-config"} {
		if code != 0 || !strings.Contains(out, name) {
			t.Fatalf("help (exit %d) does not list %s:\n%s", code, name, out)
		}
	}
	if code, _, errOut := run("", "frobnicate"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Fatalf("an unknown command: exit %d, %q", code, errOut)
	}
	if code, out, errOut := run("", "migrate"); code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := run("", "check-config"); code != 0 || !strings.Contains(out, "valid") {
		t.Fatalf("check-config: exit %d\n%s%s", code, out, errOut)
	}
	bad := append(append([]string{}, env...), "ACCESS_TOKEN_TTL=soon")
	if code, _, errOut := runCLI(t, bin, dir, bad, "", "check-config"); code != 1 || !strings.Contains(errOut, "ACCESS_TOKEN_TTL") {
		t.Fatalf("check-config with a bad variable: exit %d, %q", code, errOut)
	}

	const password = "a long and unusual passphrase"
	for _, tt := range []struct {
		stdin, why string
		args       []string
	}{
		{"", "--email is required", []string{"create-user"}},
		{"", "no password", []string{"create-user", "--email", "ops@example.com"}},
		{"password\n", "common", []string{"create-user", "--email", "ops@example.com"}},
		{password + "\n", "email", []string{"create-user", "--email", "not an address"}},
	} {
		code, _, errOut := run(tt.stdin, tt.args...)
		if code != 1 || !strings.Contains(errOut, tt.why) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v with %q on stdin: exit %d, %q; want 1 and one line naming %q", tt.args, tt.stdin, code, errOut, tt.why)
		}
	}
	if code, out, errOut := run(password+"\n", "create-user", "--email", "Ops@Example.com", "--name", "Operator"); code != 0 || !strings.Contains(out, "ops@example.com") {
		t.Fatalf("create-user: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := run(password+"\n", "create-user", "--email", "ops@example.com"); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("create-user for a taken address: exit %d, %q", code, errOut)
	}

	// The server, on the same database: the account signs in (its address
	// counts as confirmed), and revoke-sessions ends its session at once.
	server := exec.Command(bin)
	server.Dir, server.Env, server.Stdout, server.Stderr = dir, env, io.Discard, io.Discard
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	waitHealthy(t, base)
	token := signIn(t, base, "ops@example.com", password)
	if code, out, errOut := run("", "revoke-sessions", "--email", "ops@example.com"); code != 0 {
		t.Fatalf("revoke-sessions: exit %d\n%s%s", code, out, errOut)
	}
	waitForStatus(t, base, "/api/me", token, http.StatusUnauthorized)
	if code, _, errOut := run("", "revoke-sessions", "--email", "nobody@example.com"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("revoke-sessions for an unknown address: exit %d, %q", code, errOut)
	}

	// Roles: an administrator made by create-user --admin reaches the admin
	// routes; set-role promotes and demotes, ends the sessions of the
	// account it changes, and keeps the last administrator.
	if code, out, errOut := run(password+"\n", "create-user", "--email", "root@example.com", "--admin"); code != 0 || !strings.Contains(out, "admin root@example.com") {
		t.Fatalf("create-user --admin: exit %d\n%s%s", code, out, errOut)
	}
	root := signIn(t, base, "root@example.com", password)
	waitForStatus(t, base, "/api/admin/users", root, http.StatusOK)
	ops := signIn(t, base, "ops@example.com", password)
	waitForStatus(t, base, "/api/admin/users", ops, http.StatusForbidden)
	if code, out, errOut := run("", "set-role", "--email", "ops@example.com", "--role", "admin"); code != 0 || !strings.Contains(out, "is now admin") {
		t.Fatalf("set-role admin: exit %d\n%s%s", code, out, errOut)
	}
	waitForStatus(t, base, "/api/me", ops, http.StatusUnauthorized) // its token carried the old role
	waitForStatus(t, base, "/api/admin/users", signIn(t, base, "ops@example.com", password), http.StatusOK)
	if code, out, errOut := run("", "set-role", "--email", "root@example.com", "--role", "user"); code != 0 || !strings.Contains(out, "is now user") {
		t.Fatalf("set-role user: exit %d\n%s%s", code, out, errOut)
	}
	for _, tt := range []struct {
		role, why string
	}{
		{"user", "last administrator"},
		{"owner", "unknown role"},
	} {
		if code, _, errOut := run("", "set-role", "--email", "ops@example.com", "--role", tt.role); code != 1 || !strings.Contains(errOut, tt.why) {
			t.Errorf("set-role %s for the last administrator: exit %d, %q; want 1 naming %q", tt.role, code, errOut, tt.why)
		}
	}

	// disable-mfa: the way back in for a user without phone or recovery
	// codes. With TOTP on, the password alone gets no token; after the
	// command it does, and the owner was told.
	ops = signIn(t, base, "ops@example.com", password)
	var setup struct {
		Secret string `json:"secret"`
	}
	decodeBody(t, bearerPost(t, base, "/api/auth/mfa/totp/setup", ops, "", http.StatusOK), &setup)
	otp, err := totp.GenerateCode(setup.Secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	bearerPost(t, base, "/api/auth/mfa/totp/confirm", ops, `{"code":"`+otp+`"}`, http.StatusOK).Body.Close()
	grant := `{"grant_type":"password","email":"ops@example.com","password":"` + password + `"}`
	bearerPost(t, base, "/api/auth/token", "", grant, http.StatusForbidden).Body.Close() // mfa_required
	if code, out, errOut := run("", "disable-mfa", "--email", "ops@example.com"); code != 0 || !strings.Contains(out, "is off") {
		t.Fatalf("disable-mfa: exit %d\n%s%s", code, out, errOut)
	}
	signIn(t, base, "ops@example.com", password)
	if code, _, errOut := run("", "disable-mfa", "--email", "ops@example.com"); code != 1 || !strings.Contains(errOut, "not on") {
		t.Fatalf("disable-mfa for an account without it: exit %d, %q", code, errOut)
	}
}

// bearerPost posts body (JSON, or nothing) to path, with token as Bearer
// when there is one, and checks the status.
func bearerPost(t *testing.T, base, path, token, body string, want int) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != want {
		data, _ := io.ReadAll(res.Body)
		t.Fatalf("POST %s: %d %s, want %d", path, res.StatusCode, data, want)
	}
	return res
}

// signIn takes an access token with the password grant.
func signIn(t *testing.T, base, email, password string) string {
	t.Helper()
	res, err := http.Post(base+"/api/auth/token", "application/json",
		strings.NewReader(`{"grant_type":"password","email":"`+email+`","password":"`+password+`"}`))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%s cannot sign in: %v %v", email, res, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	decodeBody(t, res, &tok)
	return tok.AccessToken
}

// waitForStatus waits until GET path with token answers want. A change made
// by a command reaches the running server through the database: at its
// next poll (2 s on SQLite), or by notification on PostgreSQL.
func waitForStatus(t *testing.T, base, path, token string, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s still answers %d 5 s on, want %d", path, res.StatusCode, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitHealthy waits until the server at base answers /healthz.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not answer within 20 s")
		}
	}
}

func decodeBody(t *testing.T, res *http.Response, v any) {
	t.Helper()
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}
