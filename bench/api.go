package main

// The app's API as the benchmark calls it: the setup's requests, and the
// requests of the refresh and login loads.

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

const password = "correct horse battery staple 1"

// account returns the email of the i-th benchmark account.
func account(i int) string { return fmt.Sprintf("bench-%d@example.com", i) }

// api calls the app over HTTP.
type api struct {
	addr string
	hc   *fasthttp.HostClient
}

func newAPI(addr string) *api { return &api{addr: addr, hc: newHostClient(addr, setupWorkers)} }

func (a *api) close() { a.hc.CloseIdleConnections() }

// answer is the part of a response the setup looks at.
type answer struct {
	status  int
	body    []byte
	cookies map[string]string // name -> value, from Set-Cookie
}

// call sends a request, with body as JSON if it is not nil, and extra
// headers as name, value pairs.
func (a *api) call(method, path string, body any, headers ...string) (answer, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + a.addr + path)
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		req.Header.SetContentType("application/json")
		req.SetBody(data)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if err := a.hc.DoTimeout(req, resp, time.Minute); err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	ans := answer{status: resp.StatusCode(), body: append([]byte(nil), resp.Body()...), cookies: map[string]string{}}
	var parseErr error
	resp.Header.VisitAllCookie(func(name, header []byte) {
		var c fasthttp.Cookie
		if err := c.ParseBytes(header); err != nil {
			parseErr = err
			return
		}
		ans.cookies[string(name)] = string(c.Value())
	})
	return ans, parseErr
}

// expect calls and requires the status want. A 503 is retried a few
// times: the server turns a sign-in away when it has waited 2 s for a
// hashing slot, which happens when the machine is busy with other work.
func (a *api) expect(want int, method, path string, body any, headers ...string) (answer, error) {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		ans, err := a.call(method, path, body, headers...)
		switch {
		case err != nil:
			return ans, err
		case ans.status == want:
			return ans, nil
		case ans.status != fasthttp.StatusServiceUnavailable || attempt == attempts:
			return ans, fmt.Errorf("%s %s: status %d, want %d: %s", method, path, ans.status, want, ans.body)
		}
		time.Sleep(time.Second)
	}
}

func (a *api) register(email string) error {
	_, err := a.expect(fasthttp.StatusAccepted, fasthttp.MethodPost, "/api/auth/register",
		map[string]string{"email": email, "password": password, "name": "Bench"})
	return err
}

// tokens is the token grant's answer (the parts the benchmark needs).
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// signInForTokens uses the password grant of token mode.
func (a *api) signInForTokens(email string) (tokens, error) {
	ans, err := a.expect(fasthttp.StatusOK, fasthttp.MethodPost, "/api/auth/token", passwordGrant(email))
	if err != nil {
		return tokens{}, err
	}
	var t tokens
	if err := json.Unmarshal(ans.body, &t); err != nil {
		return tokens{}, fmt.Errorf("token grant answer: %w", err)
	}
	if t.AccessToken == "" || t.RefreshToken == "" {
		return tokens{}, fmt.Errorf("token grant answer without tokens: %s", ans.body)
	}
	return t, nil
}

func passwordGrant(email string) map[string]string {
	return map[string]string{"grant_type": "password", "email": email, "password": password}
}

// buildLogin writes a password grant request for email.
func buildLogin(req *fasthttp.Request, uri, email string) {
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI(uri)
	req.Header.SetContentType("application/json")
	body, _ := json.Marshal(passwordGrant(email)) // a map of strings always marshals
	req.SetBody(body)
}

// refreshExchange has each load worker rotate its own sessions round robin
// with the refresh grant: each answer's refresh token replaces the one sent
// for that session. A refused rotation keeps the old token, to be sent again
// next time around (and counted again if it fails again).
func refreshExchange(addr string, sessions [][]string) exchange {
	uri := "http://" + addr + "/api/auth/token"
	next := make([]int, len(sessions)) // per worker: the session whose token goes out now
	return exchange{
		build: func(w int, req *fasthttp.Request) {
			req.Header.SetMethod(fasthttp.MethodPost)
			req.SetRequestURI(uri)
			req.Header.SetContentType("application/json")
			// Refresh tokens are base64url: nothing in them needs JSON escaping.
			req.SetBodyString(`{"grant_type":"refresh_token","refresh_token":"` + sessions[w][next[w]] + `"}`)
		},
		read: func(w int, resp *fasthttp.Response) {
			i := next[w]
			next[w] = (i + 1) % len(sessions[w])
			var t tokens
			if resp.StatusCode() == fasthttp.StatusOK && json.Unmarshal(resp.Body(), &t) == nil && t.RefreshToken != "" {
				sessions[w][i] = t.RefreshToken
			}
		},
	}
}

// signInForCookie signs in in browser mode and returns the access cookie.
// Its name depends on the mode (access_token, or __Host-access_token with
// Secure cookies), so it is found by what it contains.
func (a *api) signInForCookie(email string) (name, value string, err error) {
	ans, err := a.expect(fasthttp.StatusOK, fasthttp.MethodPost, "/api/auth/login",
		map[string]string{"email": email, "password": password})
	if err != nil {
		return "", "", err
	}
	for cookie, v := range ans.cookies {
		if strings.Contains(cookie, "access") {
			return cookie, v, nil
		}
	}
	return "", "", fmt.Errorf("login set no access cookie (cookies: %v)", ans.cookies)
}

// me reads GET /api/me with the given credential header.
func (a *api) me(header, value string) ([]byte, error) {
	ans, err := a.expect(fasthttp.StatusOK, fasthttp.MethodGet, "/api/me", nil, header, value)
	return ans.body, err
}

// parallel calls do(0) ... do(n-1) from workers goroutines and returns the
// errors. Setup is bound by password hashing, which the server runs on as
// many requests at once as it has cores: a few workers keep it busy.
func parallel(n, workers int, do func(i int) error) error {
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if err := do(i); err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
