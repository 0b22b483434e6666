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
	port := freePort(t)
	env := cliEnv(t, port)
	run := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, bin, dir, env, stdin, args...)
	}

	code, out, _ := run("", "help")
	for _, name := range []string{"create-user", "revoke-sessions", "migrate", "check-config"} {
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
	res, err := http.Post(base+"/api/auth/token", "application/json",
		strings.NewReader(`{"grant_type":"password","email":"ops@example.com","password":"`+password+`"}`))
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the created account cannot sign in: %v %v", res, err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	decodeBody(t, res, &tok)
	if code, out, errOut := run("", "revoke-sessions", "--email", "ops@example.com"); code != 0 {
		t.Fatalf("revoke-sessions: exit %d\n%s%s", code, out, errOut)
	}
	// The running server learns it from the database: at its next poll
	// (2 s on SQLite), or by notification on PostgreSQL.
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the access token still works 5 s after revoke-sessions: %d", res.StatusCode)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _, errOut := run("", "revoke-sessions", "--email", "nobody@example.com"); code != 1 || !strings.Contains(errOut, "not found") {
		t.Fatalf("revoke-sessions for an unknown address: exit %d, %q", code, errOut)
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
