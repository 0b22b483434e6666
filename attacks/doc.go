// Package attacks is the attack suite: its tests start the real application
// (internal/testkit/testapp) on a loopback port and attack it over HTTP — forged
// tokens, cross-site requests, SQL injection, malformed bodies, spoofed
// client addresses — each proving one defence. See README.md in this folder.
package attacks
