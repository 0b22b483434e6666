package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/authstarter/authstarter/internal/logbuf"

	"github.com/authstarter/authstarter/internal/testkit/testapp"
)

// TestFirstStartAndGracefulShutdown is `go run .` on a fresh clone: no
// configuration, no data folder. The server creates the database, a
// private development key and server secret, serves, stops cleanly on
// SIGTERM, and reuses the same key and secret on its next start.
func TestFirstStartAndGracefulShutdown(t *testing.T) {
	t.Chdir(t.TempDir())
	port := testapp.FreePort(t)
	t.Setenv("PORT", strconv.Itoa(port))

	kid1 := startServeAndTerminate(t, port)
	for _, f := range []string{"data/app.db", "data/jwt_ed25519.pem", "data/server_secret"} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("first start did not create %s: %v", f, err)
		}
	}
	for _, f := range []string{"data/jwt_ed25519.pem", "data/server_secret"} {
		info, _ := os.Stat(f)
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Fatalf("%s has mode %o, want 600", f, mode)
		}
	}
	if dir, _ := os.Stat("data"); dir.Mode().Perm()&0o077 != 0 {
		t.Fatalf("data folder is readable by others: %o", dir.Mode().Perm())
	}
	secret1, _ := os.ReadFile("data/server_secret")

	if kid2 := startServeAndTerminate(t, port); kid2 != kid1 {
		t.Fatalf("second start uses key %s, first used %s: the development key was not reused", kid2, kid1)
	}
	if secret2, _ := os.ReadFile("data/server_secret"); string(secret2) != string(secret1) {
		t.Fatal("the second start replaced the development server secret")
	}
}

// startServeAndTerminate runs the server, waits until it answers, reads the
// key id from the JWKS, sends SIGTERM and checks that run returns cleanly.
func startServeAndTerminate(t *testing.T, port int) string {
	t.Helper()
	done := make(chan error, 1)
	out := logbuf.New(io.Discard, 4096, time.Second)
	t.Cleanup(func() { out.Close() })
	go func() { done <- run(out) }()

	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var kid string
	deadline := time.Now().Add(20 * time.Second)
	for kid == "" {
		select {
		case err := <-done:
			t.Fatalf("server stopped before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("server did not answer within 20 s")
		}
		kid = jwksKID(base)
		if kid == "" {
			time.Sleep(50 * time.Millisecond)
		}
	}

	// run has registered for SIGTERM before it started listening, so this
	// signal reaches run instead of ending the test binary.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not shut down within 15 s of SIGTERM")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
	return kid
}

func jwksKID(base string) string {
	res, err := http.Get(base + "/.well-known/jwks.json")
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	var set struct{ Keys []struct{ Kid string } }
	if json.NewDecoder(res.Body).Decode(&set) != nil || len(set.Keys) != 1 {
		return ""
	}
	return set.Keys[0].Kid
}
